"""The Jenkins client: the only code in jenkins-broker that talks HTTP to Jenkins.

One :class:`JenkinsClient` per Jenkins. It sends through one
:class:`~jenkins_broker.transport.Session` (so connections are kept alive and
reused, every call has a timeout and the TLS settings are explicit), and turns
every transport failure (:class:`~jenkins_broker.transport.TransportError`) and
every non-success answer into an errors.py exception through :mod:`.answers`.
The session can be given (``session=``); tests give one whose urllib3 pool
manager answers without a network, and the rest runs as in production.

CSRF (docs/jenkins-behaviour.md §3): a POST authenticated with an API token needs no
crumb and no cookie, so none is sent. A POST authenticated with a password needs the
same Basic credentials plus the session cookie and the crumb obtained together
from ``GET crumbIssuer/api/json``. That pair is cached per credential; on a 403
"No valid crumb" (Jenkins restarted, session expired) it is fetched again once
and the POST retried. A Jenkins without crumb issuer (404) needs no crumb.

The session keeps no cookies: every credential gets its own Jenkins session,
held next to its crumb, because a crumb is bound to the (user, session) pair.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import transport
from ..errors import ConfigError, JenkinsAuthError, JenkinsForbidden, JenkinsProtocolError
from ..transport import Response
from ..values import jenkins_root_url, same_jenkins_user
from . import answers
from .endpoints import TokenEndpoints
from .models import Credential

if TYPE_CHECKING:
    from ..domain.jenkins_config import JenkinsConfig

from ..values import JENKINS_KINDS as KINDS  # the vocabulary's one list

TOKEN_DESCRIPTOR = "descriptorByName/jenkins.security.ApiTokenProperty/"
#: Jenkins versions at which behaviour the client depends on changed (§13).
TOKEN_CSRF_EXEMPT_SINCE = (2, 96)
EXPIRY_SINCE = (2, 548)


def basic_header(credential: Credential) -> str:
    """HTTP Basic for ``credential`` in UTF-8, as Jenkins decodes it."""
    raw = f"{credential.username}:{credential.secret}".encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass
class _Crumb:
    header: str | None
    value: str | None = field(repr=False)
    cookies: dict[str, str] = field(repr=False, default_factory=dict)


class JenkinsClient(TokenEndpoints):
    """A connection to one Jenkins (or CloudBees CI Operations Center / controller).

    ``url`` is the Jenkins root URL (http or https, no credentials in it).
    ``kind`` is ``"jenkins"``, ``"cloudbees-operations-center"`` or
    ``"cloudbees-controller"``; strategies refuse to mint on a controller.
    ``timeout`` (seconds, or a ``(connect, read)`` pair) applies to every call.
    ``verify`` is ``True``, ``False`` or the path of a CA bundle.
    ``verify_after_mint``: check each new token with ``whoAmI`` before handing
    it out. Default: on for the CloudBees kinds (where an Operations Center may
    overwrite tokens), off for plain Jenkins, where the generate answer is
    authoritative and one more round trip per mint is not worth it.
    ``version_ttl``: seconds the detected Jenkins version is trusted.
    ``ca_pem``: PEM text of the CA to trust, held in memory (instead of ``verify``'s path).
    ``session``: the :class:`~jenkins_broker.transport.Session` to send through
    (built from the settings above when not given).

    Raises :class:`~jenkins_broker.errors.ConfigError` for a bad setting.
    """

    def __init__(self, url: str, *, kind: str = "jenkins", timeout: Any = 10.0,
                 verify: bool | str = True, verify_after_mint: bool | None = None,
                 version_ttl: float = 300.0, pool_size: int = 32, ca_pem: str | None = None,
                 session: transport.Session | None = None):
        self._url = jenkins_root_url(url)
        if kind not in KINDS:
            raise ConfigError(f"Jenkins kind must be one of {', '.join(KINDS)}; got {kind!r}")
        self.kind = kind
        self.timeout = _check_timeout(timeout)
        self.verify = _check_verify(verify)
        self.verify_after_mint = (kind != "jenkins") if verify_after_mint is None else bool(verify_after_mint)
        self.version_ttl = float(version_ttl)
        if session is None:
            try:
                # Jenkins localises some messages the client matches on (§4.7); ask for English.
                session = transport.Session(self._url, timeout=self.timeout, verify=self.verify,
                                            ca_data=ca_pem, pool_size=pool_size,
                                            headers={"Accept-Language": "en"}, max_redirects=5)
            except transport.TransportError as exc:
                raise ConfigError(f"Jenkins TLS settings cannot be used: {exc.reason}") from None
        self._session = session
        self._lock = threading.Lock()
        self._crumbs: dict[Credential, _Crumb] = {}
        self._version: str | None = None
        self._version_at: float | None = None
        self._instance: str | None = None

    # -- basics -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The Jenkins root URL, ending with ``/``."""
        return self._url

    @property
    def session(self) -> transport.Session:
        """The transport this client sends through."""
        return self._session

    @property
    def is_cloudbees_controller(self) -> bool:
        """True when configured as a CloudBees CI controller (minting is refused there)."""
        return self.kind == "cloudbees-controller"

    def close(self) -> None:
        """Close the pooled connections. The client must not be used afterwards."""
        self._session.close()

    def __enter__(self) -> "JenkinsClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"JenkinsClient({self._url!r}, kind={self.kind!r})"

    @staticmethod
    def user_path(user: str, rest: str = "") -> str:
        """The path of ``rest`` under ``/user/{user}/``, the id percent-encoded."""
        return f"user/{quote(user, safe='')}/{rest}"

    def token_endpoint(self, user: str, method: str) -> str:
        """The path of an ``ApiTokenProperty`` endpoint of ``user`` (§4.0)."""
        return self.user_path(user, TOKEN_DESCRIPTOR + method)

    # -- transport ----------------------------------------------------------------

    def _send(self, method: str, path: str, *, credential: Credential | None,
              user: str | None, what: str, data: dict[str, str] | None = None,
              headers: dict[str, str] | None = None,
              cookies: dict[str, str] | None = None) -> Response:
        url = self._url + path
        sent = dict(headers or {})
        if credential is not None:
            sent["Authorization"] = basic_header(credential)
        if cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        try:
            response = self._session.request(
                method, url, form=data, headers=sent, timeout=self.timeout,
                # A redirected POST turns into a GET and loses its body: never follow one.
                redirect=(method == "GET"))
        except transport.TransportError as exc:
            raise answers.error_for_transport(
                exc, method=method, url=url, user=user, what=what, timeout=self.timeout,
                secrets=(credential.secret,) if credential else ()) from None
        self._observe(response)
        return response

    def _observe(self, response: Response) -> None:
        """Learn the version from any answer carrying X-Jenkins; notice restarts."""
        version = response.headers.get("X-Jenkins")
        if version:
            self._version, self._version_at = version.strip(), time.monotonic()
        instance = response.headers.get("X-Jenkins-Session")
        if instance:
            if self._instance is not None and instance != self._instance:
                # Jenkins restarted: every session, hence every cached crumb, is gone.
                with self._lock:
                    self._crumbs.clear()
            self._instance = instance

    def _check(self, response: Response, *, credential: Credential | None,
               user: str | None, what: str, **extra: Any) -> Response:
        error = answers.error_for_status(
            response.status, response.headers, response.text, url=response.url,
            user=user, as_user=credential.username if credential else None, what=what,
            reason=response.reason, secrets=(credential.secret,) if credential else (), **extra)
        if error is not None:
            raise error
        return response

    def get(self, path: str, *, credential: Credential | None = None,
            user: str | None = None, what: str = "reading from Jenkins") -> Response:
        """GET ``{root}{path}``; return the 2xx answer or raise the mapped error."""
        response = self._send("GET", path, credential=credential, user=user, what=what)
        return self._check(response, credential=credential, user=user, what=what)

    def post(self, path: str, *, credential: Credential, data: dict[str, str] | None = None,
             user: str | None = None, what: str = "posting to Jenkins",
             empty_403: type[JenkinsForbidden] | None = None,
             empty_403_message: str | None = None) -> Response:
        """POST a form to ``{root}{path}`` with the CSRF handling ``credential`` needs.

        Token credentials send no crumb and no cookie. Password credentials send
        the cached crumb and session cookie, and on a 403 crumb error fetch them
        again once and retry. Returns the 2xx answer; raises the mapped error
        (:class:`~jenkins_broker.errors.JenkinsCrumbError` if the retry fails too).
        """
        needs_crumb = self._needs_crumb(credential)
        for attempt in (1, 2):
            headers: dict[str, str] = {}
            cookies: dict[str, str] | None = None
            if needs_crumb:
                crumb = self._crumb(credential, refresh=attempt > 1, user=user)
                if crumb.header:
                    headers[crumb.header] = crumb.value or ""
                cookies = crumb.cookies
            response = self._send("POST", path, credential=credential, user=user, what=what,
                                  data=data or {}, headers=headers, cookies=cookies)
            if not (needs_crumb and attempt == 1 and answers.is_crumb_error(
                    response.status, response.text, response.reason)):
                break
        return self._check(response, credential=credential, user=user, what=what,
                           empty_403=empty_403, empty_403_message=empty_403_message)

    # -- crumbs -------------------------------------------------------------------

    def _needs_crumb(self, credential: Credential) -> bool:
        if not credential.is_token:
            return True
        # Token-authenticated POSTs are exempt from CSRF only since 2.96 (JENKINS-22474).
        return not self.at_least(*TOKEN_CSRF_EXEMPT_SINCE, credential=credential, unknown=True)

    def _crumb(self, credential: Credential, *, refresh: bool, user: str | None) -> _Crumb:
        with self._lock:
            cached = None if refresh else self._crumbs.get(credential)
        if cached is not None:
            return cached
        what = f"fetching a CSRF crumb as {credential.username!r}"
        response = self._send("GET", "crumbIssuer/api/json", credential=credential,
                              user=user, what=what)
        if response.status == 404:
            # No crumb issuer configured: Jenkins checks no crumbs (§3.1).
            crumb = _Crumb(None, None, {})
        else:
            self._check(response, credential=credential, user=user, what=what)
            document = answers.json_object(response.text, response.headers.get("Content-Type", ""),
                                           url=response.url, user=user, what=what)
            value, name = document.get("crumb"), document.get("crumbRequestField")
            if not (isinstance(value, str) and value and isinstance(name, str) and name):
                raise JenkinsProtocolError(
                    f"Jenkins at {answers.safe_url(response.url)} answered the crumb request "
                    "without 'crumb' and 'crumbRequestField'.", url=answers.safe_url(response.url),
                    user=user, status=response.status)
            # The session cookie's name varies (JSESSIONID.<hex>, §3.6): keep them all.
            crumb = _Crumb(name, value, response.cookies)
        with self._lock:
            self._crumbs[credential] = crumb
        return crumb

    def forget_sessions(self) -> None:
        """Drop every cached crumb and session; the next POST fetches new ones."""
        with self._lock:
            self._crumbs.clear()

    # -- version ------------------------------------------------------------------

    def version(self, *, credential: Credential | None = None, refresh: bool = False) -> str | None:
        """The Jenkins version from the ``X-Jenkins`` header, or ``None`` if not shown.

        Reads ``GET {root}/api/json`` (the header is also on its 403 page), then
        ``GET {root}/login``, then ``api/json`` again with ``credential`` if given
        (§6). The result is cached for ``version_ttl`` seconds, and refreshed
        whenever any answer carries the header. Raises
        :class:`~jenkins_broker.errors.JenkinsUnavailable` (and subclasses) when
        Jenkins cannot be reached or answers 5xx.
        """
        if (not refresh and self._version_at is not None
                and time.monotonic() - self._version_at < self.version_ttl):
            return self._version
        found = None
        probes: list[tuple[str, Credential | None]] = [("api/json", None), ("login", None)]
        if credential is not None:
            probes.append(("api/json", credential))
        for path, who in probes:
            what = "detecting the Jenkins version"
            response = self._send("GET", path, credential=who, user=None, what=what)
            if response.status >= 500:
                # Broken, not silent about its version: do not cache "unknown".
                self._check(response, credential=who, user=None, what=what)
            found = response.headers.get("X-Jenkins")
            if found:
                break
        self._version, self._version_at = (found.strip() if found else None), time.monotonic()
        return self._version

    def version_tuple(self, *, credential: Credential | None = None,
                      refresh: bool = False) -> tuple[int, ...] | None:
        """:meth:`version` as a tuple of ints (``(2, 555, 1)``), or ``None``."""
        return answers.parse_version(self.version(credential=credential, refresh=refresh))

    def at_least(self, *parts: int, credential: Credential | None = None,
                 unknown: bool = True) -> bool:
        """True if Jenkins is at least version ``parts``; ``unknown`` if it does not say."""
        found = self.version_tuple(credential=credential)
        if found is None:
            return unknown
        return found >= tuple(parts)

    # -- identity -----------------------------------------------------------------

    def whoami(self, user: str, secret: str) -> dict[str, Any]:
        """``GET {root}/whoAmI/api/json`` as ``user`` with ``secret`` (token or password).

        Returns the JSON object (``name``, ``authenticated``, ``anonymous``,
        ``authorities``). Raises :class:`~jenkins_broker.errors.JenkinsAuthError`
        on 401 and the other mapped errors.
        """
        credential = Credential(user, secret, "token")
        what = f"checking the identity of user {user!r}"
        response = self.get("whoAmI/api/json", credential=credential, user=user, what=what)
        return answers.json_object(response.text, response.headers.get("Content-Type", ""),
                                   url=response.url, user=user, what=what)

    def verify_token(self, user: str, token: str) -> bool:
        """True if ``token`` logs in to Jenkins as ``user`` (``GET whoAmI/api/json``, :func:`logs_in_as`).

        False on 401 (wrong, revoked or expired) and when Jenkins sees the caller
        as anonymous, unauthenticated or another user. Raises the other mapped
        errors (the answer says nothing about the token then).
        """
        try:
            me = self.whoami(user, token)
        except JenkinsAuthError:
            return False
        return logs_in_as(me, user)


def logs_in_as(me: Mapping[str, Any], user: str) -> bool:
    """The one rule for "this ``whoAmI`` answer is user ``user``" (broker, engine, ``check``).

    Authenticated, not anonymous (Jenkins reports an anonymous caller as authenticated
    too), and the name equal to ``user`` ignoring case: Jenkins compares user ids through
    the security realm's ``IdStrategy`` (case-insensitive for its own user database and
    for most realms) and reports the id as the realm stores it, so a credential written
    as ``CI-Bot`` logs in as ``ci-bot`` (docs/jenkins-behaviour.md §4.8).
    """
    name = me.get("name")
    anonymous = me.get("anonymous", name == "anonymous")
    return (me.get("authenticated") is True and anonymous is False and isinstance(name, str)
            and same_jenkins_user(name, user))


def _check_timeout(timeout: Any) -> Any:
    values = timeout if isinstance(timeout, tuple) else (timeout,)
    if len(values) not in (1, 2) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
        raise ConfigError(f"Jenkins timeout must be a positive number of seconds or a "
                          f"(connect, read) pair; got {timeout!r}")
    return timeout


def _check_verify(verify: bool | str) -> bool | str:
    if isinstance(verify, bool):
        return verify
    if isinstance(verify, (str, os.PathLike)) and os.path.exists(verify):
        return os.fspath(verify)
    raise ConfigError(f"Jenkins TLS verify setting must be true, false or the path of a CA "
                      f"bundle that exists; got {verify!r}")


def open_client(config: JenkinsConfig, **overrides: Any) -> JenkinsClient:
    """The one way broker and engine connect to the Jenkins ``config`` describes.

    The CA bundle is handed over as PEM text and held in memory (no temporary file);
    ``overrides`` are :class:`JenkinsClient` keyword arguments that win over the stored
    ones (tests shorten timeouts with them). Nothing is sent. Raises ``ConfigError`` for
    a setting the client cannot use (a CA that is not PEM).
    """
    options: dict[str, Any] = {"kind": config.kind, "timeout": config.timeout,
                               "verify": config.verify_tls}
    if config.verify_tls and config.ca_bundle:
        options["ca_pem"] = config.ca_bundle
    if config.verify_after_mint is not None:
        options["verify_after_mint"] = config.verify_after_mint
    options.update(overrides)
    return JenkinsClient(config.url, **options)
