"""The one place where Vault's answers and failures become jenkins_broker errors.

The broker's own client (:mod:`jenkins_broker.vault.client`) hands every non-success
answer to :func:`error_for_status` and every transport failure to
:func:`transport_error`. The administrative paths on hvac (bootstrap, the dev server
helper) run inside :func:`vault_call`, which turns hvac's and requests' exceptions
into the same :class:`~jenkins_broker.errors.VaultError` subclasses::

    hvac / requests                         jenkins_broker.errors
    ────────────────────────────────────    ─────────────────────────────────────
    requests ConnectionError, Timeout,      VaultUnavailable
      any other RequestException
    hvac InternalServerError (500),         VaultUnavailable
      VaultNotInitialized (501),
      BadGateway (502), VaultDown (503,
      sealed), RateLimitExceeded (429),
      PreconditionFailed (412)
    hvac InvalidRequest (400)               VaultInvalidRequest, or VaultConflict
                                            when KV v2 reports a check-and-set miss
    hvac Unauthorized (401),                VaultForbidden (VaultAuthError on a login)
      Forbidden (403)
    hvac InvalidPath (404)                  VaultNotFound (VaultAuthError on a login)
    hvac UnsupportedOperation,              VaultInvalidRequest
      ParamValidationError
    hvac UnexpectedError, hvac VaultError   VaultError

``tests/vault/test_translate.py`` fails if hvac grows an exception class that
is not in :data:`HVAC_ERRORS`.

An answer that is not Vault's at all is caught first (:func:`not_vault`): a VAULT_ADDR that
points at Jenkins (its ``X-Jenkins`` header) or at a plain HTTP port of an HTTPS server
(Go's "Client sent an HTTP request to an HTTPS server"), and, in :func:`transport_error`, an
``https://`` VAULT_ADDR for a server that answers plain HTTP: each says to fix VAULT_ADDR,
not the token or the CA.

Messages name the Vault address and path and say what to do next. They never
contain a token, a secret_id or a JWT: Vault's own error text is passed through
:func:`scrub` (which masks token-shaped strings and any secret the caller names)
before it is used.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping

import hvac.exceptions as hvac_exc
import requests

from jenkins_broker import transport
from jenkins_broker.errors import (
    VaultAuthError,
    VaultConflict,
    VaultError,
    VaultForbidden,
    VaultInvalidRequest,
    VaultNotFound,
    VaultUnavailable,
    redact,
)

# What a call is about decides what a 401/403/404 means:
#   "op"     the broker's own token acting on its own paths
#   "login"  the broker logging in (AppRole, Kubernetes, or checking VAULT_TOKEN)
#   "caller" a request made with a caller's token (authorization checks)
#   "admin"  `jenkins-broker bootstrap` with the administrator's token it was given
KINDS = ("op", "login", "caller", "admin")

#: What `jenkins-broker bootstrap` needs, said when the token given to it lacks a capability.
ADMIN_TOKEN = ("Run bootstrap with an administrator's token: the root token, or one whose policy "
               "grants read on sys/mounts and sys/auth, create and update on sys/mounts/*, "
               "sys/policies/acl/* and auth/approle/role/*, and sudo on sys/auth/*")

#: What OpenSSL says when a TLS client gets a plain HTTP answer (by version: 1.1/3.0, 3.2+).
_PLAIN_HTTP = re.compile(r"wrong version number|record layer failure|packet length too long|"
                         r"unknown protocol|http request", re.I)
#: What Go's HTTPS server (Vault, OpenBao) answers a plain HTTP request with (400).
HTTP_TO_HTTPS = "Client sent an HTTP request to an HTTPS server"

# hvac raises one class per status; the status is not kept on the exception, so
# this table restores it. UnsupportedOperation and ParamValidationError are hvac
# refusing a request before sending it: treated as 400. None: no known status.
HVAC_ERRORS: dict[type[hvac_exc.VaultError], int | None] = {
    hvac_exc.InvalidRequest: 400,
    hvac_exc.Unauthorized: 401,
    hvac_exc.Forbidden: 403,
    hvac_exc.InvalidPath: 404,
    hvac_exc.PreconditionFailed: 412,
    hvac_exc.RateLimitExceeded: 429,
    hvac_exc.InternalServerError: 500,
    hvac_exc.VaultNotInitialized: 501,
    hvac_exc.BadGateway: 502,
    hvac_exc.VaultDown: 503,
    hvac_exc.UnsupportedOperation: 400,
    hvac_exc.ParamValidationError: 400,
    hvac_exc.UnexpectedError: None,
    hvac_exc.VaultError: None,
}

# Vault service tokens ("s." / "hvs."), batch ("b." / "hvb.") and recovery ("r.")
# tokens. Vault never puts a token into an error, but a proxy or a plugin might.
_TOKENISH = re.compile(r"\b(?:hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}")
_CAS_MISS = "check-and-set parameter did not match"
#: What a KV v2 mount answers (400) while its upgrade runs, just after it was enabled.
KV_UPGRADING = "Upgrading from non-versioned to versioned data"


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with the given secret values and anything token-shaped masked."""
    text = text or ""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return redact(_TOKENISH.sub("<redacted>", text))


def _where(addr: str, path: str | None) -> str:
    addr = (addr or "").rstrip("/")
    return f"{addr}/v1/{path}" if path else addr


def error_for_status(status: int | None, vault_errors: Iterable[str] | str | None, *,
                     addr: str, path: str | None, action: str, kind: str = "op",
                     secrets: Iterable[str | None] = (), hint: str | None = None) -> VaultError:
    """Build the VaultError for an HTTP answer of ``status`` from Vault.

    ``vault_errors`` is Vault's ``errors`` list (or raw text); ``action`` says in
    a few words what was being done ("read", "log in with AppRole"); ``hint``
    replaces the generic advice for a refused login, forbidden or missing path.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if isinstance(vault_errors, str):
        vault_errors = [vault_errors]
    said = scrub("; ".join(e for e in (vault_errors or ()) if e), secrets)
    where = _where(addr, path)
    because = f" (Vault said: {said})" if said else ""
    intro = f"Could not {action} at {where}: "

    if status == 400 and KV_UPGRADING in said:
        return VaultUnavailable(
            f"{intro}the KV v2 mount is finishing its upgrade (it was just enabled){because}; "
            "retry in a moment.", path=path, status=status)
    if status == 400 and _CAS_MISS in said:
        return VaultConflict(
            f"{intro}someone else wrote {path} first (check-and-set version mismatch); "
            "read it again and retry.", path=path, status=status)
    if kind == "login" and status in (400, 401, 403, 404):
        return VaultAuthError(
            f"{intro}the login was refused{because}. " + (hint or "Check that the auth method "
            "is enabled at that mount and that the role and credential are current."),
            path=path, status=status)
    if kind == "admin" and status in (401, 403):
        return VaultForbidden(
            f"{intro}permission denied{because}. The Vault token given to `jenkins-broker "
            f"bootstrap` (VAULT_TOKEN) lacks this capability" + (f": {hint}" if hint else "")
            + f". {ADMIN_TOKEN}.", path=path, status=status)
    if kind == "caller" and status in (401, 403):
        return VaultForbidden(
            f"{intro}the Vault token sent by the caller is invalid, expired or revoked"
            f"{because}. Log in to Vault again and retry with a fresh token.",
            path=path, status=status)
    if status in (401, 403):
        return VaultForbidden(
            f"{intro}permission denied{because}. The broker's Vault token lacks this "
            "capability or has expired; check its policy (vault-policies/jenkins-broker.hcl) "
            "and its login settings.", path=path, status=status)
    if status == 404:
        return VaultNotFound(
            f"{intro}not found{because}. Is the mount enabled? "
            "`jenkins-broker bootstrap` creates the mounts the broker needs.",
            path=path, status=status)
    if status in (400, 405, 409, 413, 422):
        return VaultInvalidRequest(f"{intro}Vault rejected the request{because}.",
                                   path=path, status=status)
    if status == 501:
        return VaultUnavailable(
            f"{intro}Vault is not initialized{because}. Run `bao operator init` "
            "(or `vault operator init`) and unseal it.", path=path, status=status)
    if status == 503:
        return VaultUnavailable(
            f"{intro}Vault is sealed or not ready (503){because}. Unseal it "
            "(`bao operator unseal`) and retry.", path=path, status=status)
    if status == 429:
        return VaultUnavailable(f"{intro}Vault is rate-limiting or in standby (429){because}; "
                                "retry later.", path=path, status=status)
    if status is not None and (status >= 500 or status == 412):
        return VaultUnavailable(
            f"{intro}Vault answered {status}{because}; retry later and see the Vault "
            "server log.", path=path, status=status)
    if status is None:
        return VaultError(f"{intro}{said or 'unexpected error'}", path=path)
    return VaultError(f"{intro}unexpected HTTP {status}{because}.", path=path, status=status)


def _other_scheme(addr: str) -> str:
    """``addr`` with http:// and https:// swapped."""
    scheme, rest = (addr or "").rstrip("/").split("://", 1) if "://" in (addr or "") else ("http", addr)
    return f"{'http' if scheme == 'https' else 'https'}://{rest}"


def plain_http(addr: str, path: str | None, action: str, reason: str) -> VaultUnavailable:
    """An https:// VAULT_ADDR whose server answered plain HTTP to the TLS handshake."""
    return VaultUnavailable(
        f"Could not {action} at {_where(addr, path)}: the server answered plain HTTP, not TLS "
        f"({reason}): set VAULT_ADDR to {_other_scheme(addr)} (or serve Vault over TLS).",
        path=path)


def not_vault(status: int, headers: Mapping[str, str], text: str, *, addr: str,
              path: str | None, action: str) -> VaultError | None:
    """The error for an answer that is not Vault's, or None if it may be Vault's.

    Jenkins marks its answers with ``X-Jenkins`` (docs/jenkins-behaviour.md §6), which Vault
    never sends: VAULT_ADDR points at Jenkins. Go's HTTPS server answers a plain HTTP request
    with 400 "Client sent an HTTP request to an HTTPS server": VAULT_ADDR says http:// for an
    https:// server. Either way the token is not what is wrong, whatever the status says.
    """
    intro = f"Could not {action} at {_where(addr, path)}: "
    version = (headers.get("X-Jenkins") or "").strip()
    if version:
        return VaultError(
            f"{intro}VAULT_ADDR points at Jenkins, not Vault: {addr.rstrip('/')} answered with an "
            f"X-Jenkins header (Jenkins {redact(version, limit=40)}); set VAULT_ADDR to Vault's "
            "address (Jenkins' goes to `jenkins-broker config write --url`).",
            path=path, status=status)
    if status == 400 and HTTP_TO_HTTPS in (text or "")[:300]:
        return VaultError(
            f"{intro}the server speaks HTTPS, but VAULT_ADDR says http://: set VAULT_ADDR to "
            f"{_other_scheme(addr)} (and VAULT_CACERT to its CA if that is private).",
            path=path, status=status)
    return None


def transport_error(exc: transport.TransportError, *, addr: str, path: str | None,
                    action: str) -> VaultError:
    """The VaultError for a request to Vault that got no answer (the broker's own
    client, :mod:`jenkins_broker.vault.client`)."""
    intro = f"Could not {action} at {_where(addr, path)}: "
    reason = scrub(exc.reason, ())
    if isinstance(exc, transport.TLSFailure) and _PLAIN_HTTP.search(reason):
        return plain_http(addr, path, action, reason)
    if isinstance(exc, transport.TLSFailure):
        return VaultUnavailable(
            f"{intro}TLS handshake failed ({reason}). Check VAULT_CACERT / VAULT_CAPATH "
            "(or VAULT_SKIP_VERIFY for a test server only).", path=path)
    if isinstance(exc, (transport.ConnectTimeout, transport.ReadTimeout)):
        return VaultUnavailable(
            f"{intro}no answer within the client timeout ({reason}); is Vault overloaded "
            "or unreachable? Retry later.", path=path)
    if isinstance(exc, (transport.ConnectFailed, transport.ProxyFailure)):
        return VaultUnavailable(
            f"{intro}could not connect ({reason}). Is Vault running and is VAULT_ADDR "
            "right?", path=path)
    if isinstance(exc, (transport.BadRequest, transport.LocalFailure)):
        return VaultInvalidRequest(f"{intro}the request cannot be sent ({reason}).", path=path)
    return VaultUnavailable(f"{intro}the HTTP exchange failed ({reason}); retry later.",
                            path=path)


def _requests_error(exc: requests.RequestException, *, addr: str, path: str | None,
                    action: str) -> VaultError:
    where = _where(addr, path)
    intro = f"Could not {action} at {where}: "
    kind = _reason(exc)
    if isinstance(exc, requests.exceptions.SSLError) and _PLAIN_HTTP.search(kind):
        return plain_http(addr, path, action, kind)
    if isinstance(exc, requests.exceptions.SSLError):
        return VaultUnavailable(
            f"{intro}TLS handshake failed ({kind}). Check VAULT_CACERT / VAULT_CAPATH "
            "(or VAULT_SKIP_VERIFY for a test server only).", path=path)
    if isinstance(exc, requests.Timeout):
        return VaultUnavailable(
            f"{intro}no answer within the client timeout ({kind}); is Vault overloaded "
            "or unreachable? Retry later.", path=path)
    if isinstance(exc, requests.ConnectionError):
        return VaultUnavailable(
            f"{intro}could not connect ({kind}). Is Vault running and is VAULT_ADDR "
            "right?", path=path)
    if isinstance(exc, requests.exceptions.InvalidJSONError):
        return VaultUnavailable(
            f"{intro}the answer was not Vault's JSON ({kind}); is VAULT_ADDR pointing "
            "at Vault and not at a proxy page?", path=path)
    return VaultUnavailable(f"{intro}the HTTP exchange failed ({kind}); retry later.",
                            path=path)


def _reason(exc: requests.RequestException) -> str:
    """A short, secret-free reason: the OS error or timeout text, else the class name."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\][^'\")]*", text) or re.search(
        r"(?:Read|Connect|Connection) timed out", text) or re.search(
        r"certificate verify failed[^'\")]*|hostname \S+ doesn't match[^'\")]*|"
        r"wrong version number", text)
    reason = found.group(0).strip() if found else type(exc).__name__
    return scrub(reason, ())


def translate(exc: BaseException, *, addr: str, path: str | None, action: str,
              kind: str = "op", secrets: Iterable[str | None] = (),
              hint: str | None = None) -> VaultError:
    """Return the jenkins_broker error for an hvac or requests exception.

    Anything else (a bug of ours, a KeyError) is not translated: it is returned
    unchanged only if it already is a VaultError, otherwise TypeError is raised.
    """
    if isinstance(exc, VaultError):
        return exc
    if isinstance(exc, hvac_exc.VaultError):
        if type(exc) in HVAC_ERRORS:
            status = HVAC_ERRORS[type(exc)]
        else:
            # A subclass hvac added after this table was written: use its parent's status.
            status = next((code for cls in type(exc).__mro__ if cls in HVAC_ERRORS
                           for code in (HVAC_ERRORS[cls],)), None)
        errors = exc.errors if exc.errors else ([str(exc.args[0])] if exc.args and exc.args[0]
                                               else [])
        if isinstance(errors, str):
            errors = [errors]
        return error_for_status(status, errors, addr=addr, path=path, action=action,
                                kind=kind, secrets=secrets, hint=hint)
    if isinstance(exc, requests.RequestException):
        return _requests_error(exc, addr=addr, path=path, action=action)
    raise TypeError(f"not an hvac or requests exception: {type(exc).__name__}")


def json_body(resp: object, *, addr: str, path: str | None, action: str) -> dict:
    """Return hvac's parsed answer, or raise VaultUnavailable if it was not JSON.

    hvac hands back the raw ``Response`` when a 200 body is not JSON (a proxy's
    HTML page, say); indexing it would fail far from the cause.
    """
    if isinstance(resp, dict):
        return resp
    status = getattr(resp, "status_code", None)
    raise VaultUnavailable(
        f"Could not {action} at {_where(addr, path)}: the answer (HTTP {status}) was not "
        "Vault's JSON; is VAULT_ADDR pointing at Vault and not at a proxy page?",
        path=path, status=status)


@contextlib.contextmanager
def vault_call(*, addr: str, path: str | None, action: str, kind: str = "op",
               secrets: Iterable[str | None] = (), hint: str | None = None) -> Iterator[None]:
    """Run the body; re-raise any hvac/requests exception as a VaultError subclass.

    The foreign exception is not chained (``from None``): its text is Vault's or
    urllib3's unscrubbed, and a logged traceback would print it. What it says that
    matters (Vault's errors, the OS error) is already in the scrubbed message.
    """
    try:
        yield
    except (hvac_exc.VaultError, requests.RequestException) as exc:
        raise translate(exc, addr=addr, path=path, action=action, kind=kind,
                        secrets=secrets, hint=hint) from None
