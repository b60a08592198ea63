"""One request/response exchange: who is calling, their session, and Jenkins' response kinds.

Each response builder here is one row of docs/jenkins-behaviour.md §5, with
exactly the headers §6 allows: ``X-Jenkins``/``X-Jenkins-Session`` (plus ``X-Hudson``) on
layout pages, the login page and the anonymous 403; the ``Api`` headers on
``api/*``; nothing on container error pages, the 401 and the token endpoints.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable

from werkzeug.wrappers import Request, Response

from . import pages
from .state import JenkinsState, Session, UserRecord

# (id, display name, ids of the permissions that imply it), from hudson.security.Permission.
READ = ("hudson.model.Hudson.Read", "Overall/Read",
        ("hudson.security.Permission.GenericRead", "hudson.model.Hudson.Administer"))
ADMINISTER = ("hudson.model.Hudson.Administer", "Overall/Administer", ())
RUN_SCRIPTS = ("hudson.model.Hudson.RunScripts", "Overall/RunScripts",
               ("hudson.model.Hudson.Administer",))

_GROUP_HEADERS_DISABLED = ("JENKINS-39402: use -Dhudson.security.AccessDeniedException2."
                           "REPORT_GROUP_HEADERS=true or use /whoAmI to diagnose")


class Answer(Exception):
    """Raised by a step of the chain to answer at once with ``response``."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class Deferred:
    """An answer that takes time (a script): ``work`` runs without the state's lock, then
    ``then(result)`` builds the response under it."""

    work: Callable[[], Any]
    then: Callable[[Any], Response]


@dataclass
class Auth:
    """The authentication of a request (Spring's Authentication, reduced)."""

    name: str = "anonymous"
    user: UserRecord | None = None
    via: str = "anonymous"          # anonymous | password | token | session

    @property
    def anonymous(self) -> bool:
        return self.user is None

    @property
    def admin(self) -> bool:
        return self.user is not None and self.user.admin

    @property
    def authorities(self) -> list[str]:
        if self.user is None:
            return ["anonymous"]
        return ["authenticated", *self.user.groups]


class Exchange:
    """A request being handled, with the response helpers every endpoint shares."""

    def __init__(self, req: Request, state: JenkinsState):
        self.req = req
        self.state = state
        self.auth = Auth()
        self.session: Session | None = state.session_from_cookies(req.cookies)
        self._set_cookie: Session | None = None

    # -- request facts --------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        return self.req.host_url

    def client_ip(self) -> str:
        forwarded = self.req.headers.get("X-Forwarded-For")
        if forwarded is not None:
            return forwarded.split(",")[0]
        return self.req.remote_addr or ""

    def param(self, name: str) -> str | None:
        """``request.getParameter``: query string first, then an urlencoded body."""
        value = self.req.args.get(name)
        return value if value is not None else self.req.form.get(name)

    def get_session(self) -> Session:
        """``request.getSession(true)``: this request's session, made if it has none (a new
        session gets its cookie on the response). ``getSession(false)`` is :attr:`session`."""
        if self.session is None:
            self.session = self.state.create_session()
            self._set_cookie = self.session
        return self.session

    def crumb(self) -> str:
        """The crumb DefaultCrumbIssuer computes for this request (§3.2)."""
        f = self.state.features
        session_id = None
        if f.crumb_without_ip or f.issuer_creates_session:
            session_id = self.get_session().id
        elif f.session_crumb and self.session is not None:
            session_id = self.session.id
        return self.state.crumb(self.auth.name, self.client_ip(), session_id)

    def finish(self, response: Response) -> Response:
        """Add the session cookie if this exchange created a session (§3.6)."""
        if self._set_cookie is not None:
            response.headers.add(
                "Set-Cookie",
                f"{self.state.cookie_name}={self._set_cookie.cookie_value}; Path=/; HttpOnly")
        return response

    # -- header families (§6) ---------------------------------------------------------------

    def advertise(self, response: Response) -> Response:
        """Functions.advertiseHeaders: on layout pages, the login page, the anonymous 403."""
        response.headers["X-Hudson"] = "1.395"
        response.headers["X-Jenkins"] = self.state.features.version
        response.headers["X-Jenkins-Session"] = self.state.session_hash
        return response

    def api_headers(self, response: Response) -> Response:
        """Api.setHeaders: on every api/json|xml|python response."""
        response.headers["X-Jenkins"] = self.state.features.version
        response.headers["X-Jenkins-Session"] = self.state.session_hash
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "deny"
        return response

    # -- response kinds (§5) ------------------------------------------------------------------

    def container(self, status: int, message: str) -> Response:
        """``sendError(status, message)``: the container's error page, no X-Jenkins."""
        return Response(pages.container_error(status, message, self.req.path), status=status,
                        content_type="text/html;charset=utf-8")

    def unauthorized(self) -> Response:
        """The Basic challenge of BasicAuthenticationEntryPoint (§2)."""
        response = self.container(401, "Unauthorized")
        response.headers["WWW-Authenticate"] = 'Basic realm="Jenkins"'
        return response

    def page(self, status: int, title: str | None, body: str) -> Response:
        """A page in the standard layout; rendering it opens a session (layout.jelly)."""
        self.get_session()
        text = pages.layout(title, body, version=self.state.features.version,
                            crumb_field=self.state.features.crumb_field, crumb=self.crumb())
        response = Response(text.encode("utf-8"), status=status,
                            content_type="text/html;charset=UTF-8")
        return self.advertise(response)

    def report_headers(self, response: Response, permission) -> Response:
        """AccessDeniedException3.reportAsHeaders."""
        perm_id, _display, implied_by = permission
        response.headers["X-You-Are-Authenticated-As"] = self.auth.name
        response.headers["X-You-Are-In-Group-Disabled"] = _GROUP_HEADERS_DISABLED
        response.headers["X-Required-Permission"] = perm_id
        for implier in implied_by:
            response.headers.add("X-Permission-Implied-By", implier)
        return response

    def login_required(self, permission=None) -> Response:
        """HudsonAuthenticationEntryPoint's 403 for anonymous callers (§5)."""
        if self.req.headers.get("X-Requested-With") == "XMLHttpRequest":
            return self.container(403, "Forbidden")
        report = None
        if permission is not None:
            perm_id, _display, implied_by = permission
            report = ["You are authenticated as: anonymous", "Groups that you are in:",
                      *[f"  {a}" for a in self.auth.authorities],
                      f"Permission you need to have (but didn't): {perm_id}",
                      *[f" ... which is implied by: {p}" for p in implied_by]]
        login = pages.login_form_url(self.req.path, self.req.query_string.decode("latin-1"))
        response = Response(pages.login_redirect(login, report).encode("utf-8"), status=403,
                            content_type="text/html;charset=UTF-8")
        self.advertise(response)
        if permission is not None:
            self.report_headers(response, permission)
        return response

    def access_denied(self, permission) -> Response:
        """Overall permission missing: the Access Denied page, or the login redirect (§5)."""
        if self.auth.anonymous:
            return self.login_required(permission)
        message = f"{self.auth.name} is missing the {permission[1]} permission"
        response = self.page(403, "Access Denied", pages.access_denied_body(message))
        return self.report_headers(response, permission)

    def not_found(self) -> Response:
        return self.page(404, "Not Found", pages.not_found_body(self.auth.anonymous))

    def oops(self, status: int = 500) -> Response:
        """The oops page (uncaught exception or HttpResponses.error)."""
        return self.page(status, None, pages.oops_body(str(uuid.uuid4())))

    def require_post(self) -> Response:
        """@RequirePOST on a non-POST request: 405, ``Allow: POST``, the retry page (§4.0)."""
        response = self.page(405, "Method Not Allowed", pages.require_post_body(self.req.url))
        response.headers["Allow"] = "POST"
        return response

    @staticmethod
    def json_envelope(text: str) -> Response:
        """hudson.util.HttpResponses.okJSON/errorJSON: HTTP 200 whatever the status says."""
        return Response(text.encode("utf-8"), content_type="application/json; charset=UTF-8")

    @staticmethod
    def empty(status: int = 200) -> Response:
        """HttpResponses.ok()/forbidden(): a status and nothing else."""
        response = Response(b"", status=status)
        del response.headers["Content-Type"]
        return response

    @staticmethod
    def html(text: str) -> Response:
        return Response(text.encode("utf-8"), content_type="text/html;charset=UTF-8")

    @staticmethod
    def text(text: str) -> Response:
        return Response(text.encode("utf-8"), content_type="text/plain;charset=UTF-8")
