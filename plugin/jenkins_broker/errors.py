"""Every error jenkins-broker raises, under one root.

Foreign exceptions (urllib3's in :mod:`jenkins_broker.transport`, hvac's in
:mod:`jenkins_broker.vault.translate`) are translated where they enter the
project, then mapped by the one module that talks to each system (Jenkins' answers
in :mod:`jenkins_broker.jenkins.answers`, Vault's in ``vault.translate``), so callers only ever see
these classes (a name in parentheses: defined in that module, not here)::

    BrokerError
    ├── ConfigError                     a setting is missing or invalid (names it)
    ├── CallerError                     the caller asked for something it cannot have
    │   ├── InvalidRequest              malformed input; names the field
    │   │   └── InvalidRole             (domain.roles) a role write; .field names it
    │   ├── UnknownRole                 no such role
    │   ├── RoleDisabled                the role is suspended
    │   ├── LeaseNotFound               no such lease (Vault's answer too)
    │   ├── LeaseRevoking               the lease is being revoked; no renewal
    │   ├── QuotaExceeded               the role's max_live_tokens is reached
    │   ├── Unauthorized                (web.errors) no Vault token was sent
    │   └── Forbidden                   (web.errors) the caller's Vault token does not allow it
    ├── JenkinsError                    talking to Jenkins failed (carries url, user)
    │   ├── JenkinsUnavailable          no usable answer; worth retrying later
    │   │   ├── JenkinsConnectionError  refused, reset, DNS, TLS handshake
    │   │   ├── JenkinsTimeout          no answer within the client timeout
    │   │   └── JenkinsServerError      HTTP 5xx (the "oops" page)
    │   ├── JenkinsAuthError            401: wrong, revoked or expired credential
    │   ├── JenkinsForbidden            403: authenticated but not allowed
    │   │   ├── JenkinsCrumbError       403 "No valid crumb was included"
    │   │   └── AdminCannotGenerateTokens
    │   │                               403 empty body on another user's generateNewToken
    │   ├── JenkinsNotFound             404: unknown user or endpoint
    │   ├── JenkinsMethodNotAllowed     405: the endpoint wants POST
    │   ├── JenkinsBadRequest           400: a required parameter was blank
    │   ├── JenkinsOperationFailed      200 {"status":"error"}; the message says why
    │   ├── JenkinsScriptError          /scriptText ran but the script failed
    │   ├── JenkinsProtocolError        an answer of a shape Jenkins never gives
    │   └── JenkinsUnsupported          the strategy cannot work on this Jenkins
    │       └── CloudBeesControllerRefused
    │                                   tokens minted on a controller get overwritten
    └── VaultError                      talking to Vault/OpenBao failed
        ├── VaultUnavailable            down, sealed, timing out, 5xx; retry later
        ├── VaultAuthError              the broker's own Vault login failed or expired
        ├── VaultForbidden              403: a token lacks a capability
        ├── CallerTokenGone             a caller's token was revoked or expired
        ├── VaultNotFound               404 where something had to exist
        ├── VaultInvalidRequest         400: Vault rejected what was sent
        └── VaultConflict               a check-and-set write lost a race

The statuses above are what Jenkins or Vault answered. What each class is answered
with is each front door's own table, written once there: ``STATUS`` in
:mod:`jenkins_broker.web.errors` (the HTTP API), ``ERRORS`` in
:mod:`jenkins_broker.vaultplugin.backend` (the secrets engine) and ``EXIT_STATUS`` in
:mod:`jenkins_broker.commands.cli` (the command line).

Messages are written for an operator: which URL, which user, what to do next.
No message ever contains a token value; :func:`redact` is applied to any text
that came back from Jenkins before it is put into a message.
"""

from __future__ import annotations

import re

# A current token is "11" + 32 hex digits; a legacy token is 32 hex digits. The
# pattern also catches any other long hex run, which is never useful in a message.
_SECRETISH = re.compile(r"\b(?:[0-9a-fA-F]{2})?[0-9a-fA-F]{32,}\b")


def redact(text: str, limit: int = 300) -> str:
    """Return ``text`` cut to ``limit`` characters with anything token-shaped masked."""
    text = _SECRETISH.sub("<redacted>", text or "")
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit] + "…"
    return text


def reworded(exc: "BrokerError", message: str) -> "BrokerError":
    """A copy of ``exc`` that says ``message``: the same class (so every front door answers
    it as before) and the same attributes (``url``, ``user``, ``path``, ``status``). How a
    layer adds what it was doing to an error without deciding what it is answered with."""
    copy = type(exc).__new__(type(exc))
    copy.__dict__.update(exc.__dict__)
    copy.args = (message,)
    return copy


class BrokerError(Exception):
    """Root of every error raised by jenkins-broker."""


class ConfigError(BrokerError):
    """A setting is missing or invalid; the message names the setting."""


class CallerError(BrokerError):
    """The caller asked for something it cannot have; the HTTP layer answers 4xx."""


class InvalidRequest(CallerError):
    """Malformed input; the message names the field."""


class UnknownRole(CallerError):
    """No role of that name exists."""


class RoleDisabled(CallerError):
    """The role is suspended (``disabled=true``): it mints nothing until re-enabled."""


class LeaseNotFound(CallerError):
    """No lease of that id exists (never issued, expired, or revoked)."""


class LeaseRevoking(CallerError):
    """The lease is being revoked (asked for, or past its end): it cannot be renewed."""


class QuotaExceeded(CallerError):
    """The role already has ``max_live_tokens`` live tokens."""


class JenkinsError(BrokerError):
    """Talking to Jenkins failed.

    ``url`` is the Jenkins URL that was called (never with credentials in it),
    ``user`` the Jenkins user acted on or as, ``status`` the HTTP status if any.
    """

    def __init__(self, message: str, *, url: str | None = None, user: str | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.url = url
        self.user = user
        self.status = status


class JenkinsUnavailable(JenkinsError):
    """Jenkins gave no usable answer; the same call may work later."""


class JenkinsConnectionError(JenkinsUnavailable):
    """The connection was refused, reset, or could not be set up."""


class JenkinsTimeout(JenkinsUnavailable):
    """Jenkins did not answer within the client timeout."""


class JenkinsServerError(JenkinsUnavailable):
    """Jenkins answered with a 5xx status."""


class JenkinsAuthError(JenkinsError):
    """401: the credential is wrong, revoked or expired."""


class JenkinsForbidden(JenkinsError):
    """403: the caller is authenticated but lacks a permission."""


class JenkinsCrumbError(JenkinsForbidden):
    """403: the POST carried no valid CSRF crumb for this user and session."""


class AdminCannotGenerateTokens(JenkinsForbidden):
    """403 on another user's generateNewToken: the system property is not set."""


class JenkinsNotFound(JenkinsError):
    """404: the user or endpoint does not exist."""


class JenkinsMethodNotAllowed(JenkinsError):
    """405: the endpoint requires POST."""


class JenkinsBadRequest(JenkinsError):
    """400: Jenkins rejected a parameter."""


class JenkinsOperationFailed(JenkinsError):
    """HTTP 200 with ``{"status": "error"}``: Jenkins refused the operation."""


class JenkinsScriptError(JenkinsError):
    """The script console answered 200 but the script did not succeed."""


class JenkinsProtocolError(JenkinsError):
    """Jenkins answered in a shape it never uses; probably not Jenkins, or a proxy."""


class JenkinsUnsupported(JenkinsError):
    """The chosen strategy cannot work against this Jenkins."""


class CloudBeesControllerRefused(JenkinsUnsupported):
    """Minting on a CloudBees CI controller is refused: the Operations Center would
    overwrite the token."""


class VaultError(BrokerError):
    """Talking to Vault/OpenBao failed. ``path`` is the Vault path involved, if any."""

    def __init__(self, message: str, *, path: str | None = None, status: int | None = None):
        super().__init__(message)
        self.path = path
        self.status = status


class VaultUnavailable(VaultError):
    """Vault is down, sealed, slow or answered 5xx; the same call may work later."""


class VaultAuthError(VaultError):
    """The broker could not log in to Vault, or its own token expired."""


class VaultForbidden(VaultError):
    """403: the token used lacks a capability on the path."""


class CallerTokenGone(VaultError):
    """A caller's Vault token no longer exists: revoked (itself or a parent), or expired."""


class VaultNotFound(VaultError):
    """404 where something had to exist (a mount, a record)."""


class VaultInvalidRequest(VaultError):
    """400: Vault rejected the request."""


class VaultConflict(VaultError):
    """A check-and-set write found a newer version: someone else wrote first."""
