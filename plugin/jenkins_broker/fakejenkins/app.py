"""The fake Jenkins as a WSGI application: Jenkins' filter chain, then URL dispatch.

The chain runs in Jenkins' order (docs/jenkins-behaviour.md §1, §15.1)::

    session context ─ Basic header (401) ─ form login ─ CSRF on POST (403)
      ─ URL: unprotected root actions, else Overall/Read (403), user lookup (404)
      ─ @RequirePOST (405) ─ endpoint permission (403) ─ logic

Endpoints: ``/`` and ``/api/*``, ``/login``, ``/j_spring_security_check``,
``/logout``, ``/whoAmI/`` (§4.8), ``/crumbIssuer/api/*`` (§3.1), ``/me`` and
``/user/{id}`` with ``api/*`` (§4.9), ``security/`` and ``configure`` (§10),
``descriptorByName/...`` (§4.0-4.7, in :mod:`.tokens`), ``/scriptText`` and
``/script`` (§4.10, in :mod:`.scriptconsole`), and
``/administrativeMonitor/legacyApiToken/revokeAllSelected`` (§4.11).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from urllib.parse import quote

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import api, pages, scriptconsole, securitypage, tokens
from .exchange import READ, Answer, Auth, Deferred, Exchange
from .groovyconsole import GroovyConsole
from .state import JenkinsState, UserRecord

log = logging.getLogger(__name__)

_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def decode_basic(value: str) -> str:
    """Decode a Basic credential as Java's strict decoder does; undecodable gives ``""``."""
    if not _BASE64.match(value) or len(value.rstrip("=")) % 4 == 1:
        return ""
    if "=" not in value:
        value += "=" * (-len(value) % 4)
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


class JenkinsApp:
    """WSGI callable answering as the Jenkins described by ``state``."""

    def __init__(self, state: JenkinsState):
        self.state = state
        self.console = GroovyConsole(state)

    def __call__(self, environ, start_response):
        req = Request(environ)
        req.form  # noqa: B018  (reads the body outside the lock: a slow client must not block others)
        with self.state.lock:
            ex = Exchange(req, self.state)
            answer = self.answer(ex, self.handle)
        if isinstance(answer, Deferred):       # a script: it runs without the lock
            result = answer.work()
            with self.state.lock:
                answer = self.answer(ex, lambda _: answer.then(result))
        assert isinstance(answer, Response)
        with self.state.lock:
            ex.finish(answer)
            self.state.request_log.append({"method": req.method, "path": req.path,
                                           "status": answer.status_code,
                                           "user": ex.auth.name, "via": ex.auth.via})
        return answer(environ, start_response)

    def answer(self, ex: Exchange, step) -> Response | Deferred:
        """``step(ex)``, with an Answer or an uncaught exception made a response."""
        try:
            return step(ex)
        except Answer as answer:
            return answer.response
        except Exception:       # an uncaught exception is Jenkins' oops page
            log.exception("fake Jenkins failed on %s %s", ex.req.method, ex.req.path)
            return ex.oops(500)

    def handle(self, ex: Exchange) -> Response | Deferred:
        """The filter chain of §1."""
        self.authenticate(ex)
        if ex.req.path == "/j_spring_security_check" and ex.req.method == "POST":
            return self.form_login(ex)
        self.check_crumb(ex)
        return self.route(ex)

    # -- security filters -------------------------------------------------------------------

    def authenticate(self, ex: Exchange) -> None:
        """Session context, then BasicHeaderProcessor (§2); raises Answer(401)."""
        state = self.state
        if ex.session is not None and ex.session.user is not None:
            record = state.find_user(ex.session.user, full_name=False)
            if record is not None:
                ex.auth = Auth(record.id, record, "session")
        header = ex.req.headers.get("Authorization")
        if header is None or header[:6].lower() != "basic ":
            return
        credential = decode_basic(header[6:])
        if ":" not in credential:
            raise Answer(ex.unauthorized())
        username, secret = credential.split(":", 1)
        if ex.auth.via == "session" and ex.auth.name == username:
            # authenticationIsRequired() is false: the header is ignored, so this request is
            # not token-authenticated and still needs a crumb (§2, §3.4).
            return
        record = state.find_user(username, full_name=False)
        if record is not None:
            if state.match_token(record, secret) is not None:
                if not record.in_realm:
                    # The token matched, impersonation failed (UsernameNotFoundException):
                    # BasicHeaderApiTokenAuthenticator throws ServletException.
                    raise Answer(ex.oops(500))
                ex.auth = Auth(record.id, record, "token")
                return
            if state.check_password(record, secret):
                ex.auth = Auth(record.id, record, "password")
                return
        raise Answer(ex.unauthorized())

    def form_login(self, ex: Exchange) -> Response:
        """POST /j_spring_security_check: a session that carries the user (form login)."""
        record = self.state.find_user(ex.param("j_username"), full_name=False)
        if record is None or not self.state.check_password(record, ex.param("j_password") or ""):
            return redirect(ex.root_url + "loginError", 302)
        if ex.session is not None:           # session fixation protection: a new id
            self.state.drop_session(ex.session)
            ex.session = None
        ex.get_session().user = record.id
        target = ex.param("from") or "/"
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        return redirect(ex.root_url.rstrip("/") + target, 302)

    def check_crumb(self, ex: Exchange) -> None:
        """CrumbFilter (§3.3-3.5): every POST needs a crumb unless token-authenticated."""
        if ex.req.method != "POST":
            return
        if ex.auth.via == "token" and self.state.features.token_csrf_exempt:
            return                                     # ApiCrumbExclusion
        if ex.req.path == "/cli" or ex.req.path.startswith("/cli/"):
            return                                     # CliCrumbExclusion
        field = self.state.features.crumb_field
        crumb = ex.req.headers.get(field)
        if crumb is None:
            crumb = ex.param(field)
        if crumb is not None and hmac.compare_digest(crumb.encode(), ex.crumb().encode()):
            return
        raise Answer(ex.container(403, "No valid crumb was included in the request"))

    # -- URL dispatch ---------------------------------------------------------------------------

    def route(self, ex: Exchange) -> Response | Deferred:
        segments = ex.req.path.split("/")[1:]
        first = segments[0]
        if first in ("login", "loginError"):
            response = Response(pages.login_page(ex.param("from") or "/",
                                                 self.state.features.version),
                                content_type="text/html;charset=UTF-8")
            return ex.advertise(response)
        if first == "logout":
            if ex.session is not None:
                self.state.drop_session(ex.session)
            return redirect(ex.root_url, 302)
        if first == "whoAmI":                          # an UnprotectedRootAction
            return self.who_am_i(ex, segments[1:])
        if ex.auth.anonymous:                          # Jenkins.getTarget: Overall/Read
            return ex.login_required(READ)
        if first == "" and len(segments) == 1:
            users = [u.id for u in self.state.users.values()]
            return ex.page(200, "Dashboard", pages.dashboard_body(users))
        if first == "api":
            return self.api(ex, segments, "hudson", self.root_bean(ex))
        if first == "crumbIssuer":
            return self.crumb_issuer(ex, segments[1:])
        if first == "user" and len(segments) >= 2:
            record = self.state.find_user(segments[1])
            if record is None:
                return ex.not_found()
            return self.user(ex, record, segments[2:])
        if first == "me":
            assert ex.auth.user is not None  # anonymous requests were turned away above
            return self.user(ex, ex.auth.user, segments[1:])
        if (first == "administrativeMonitor" and segments[1:2] == ["legacyApiToken"]
                and self.state.features.new_tokens):
            return tokens.revoke_all_selected(ex, segments[2:])
        if first in ("scriptText", "script") and len(segments) == 1:
            return scriptconsole.handle(ex, self.console, page=first == "script")
        return ex.not_found()

    def api(self, ex: Exchange, rest: list[str], tag: str, bean: dict, crumb=None) -> Response:
        """``api/json|xml|python`` (a trailing slash allowed) below any exported object."""
        if len(rest) in (2, 3) and rest[0] == "api" and rest[1] in api.FLAVORS \
                and rest[2:] in ([], [""]):
            return api.serve(ex, rest[1], tag, bean, crumb=crumb)
        return ex.not_found()

    def root_bean(self, ex: Exchange) -> dict:
        return {"_class": "hudson.model.Hudson", "assignedLabels": [{"name": "built-in"}],
                "description": None, "jobs": [], "mode": "NORMAL",
                "nodeDescription": "the Jenkins controller's built-in node", "nodeName": "",
                "numExecutors": 2, "quietDownReason": None, "quietingDown": False,
                "slaveAgentPort": -1, "url": ex.root_url, "useCrumbs": True,
                "useSecurity": True,
                "views": [{"_class": "hudson.model.AllView", "name": "all",
                           "url": ex.root_url}]}

    def who_am_i(self, ex: Exchange, rest: list[str]) -> Response:
        """/whoAmI (§4.8): anonymous is ``authenticated: true`` too."""
        if not rest:
            return redirect(ex.root_url + "whoAmI/", 302)
        auth = ex.auth
        if rest == [""]:
            body = pages.who_am_i_body(auth.name, True, auth.anonymous, auth.authorities,
                                       list(ex.req.headers.items()))
            return ex.page(200, "Who Am I", body)
        bean = {"_class": "hudson.security.WhoAmI", "anonymous": auth.anonymous,
                "authenticated": True, "authorities": auth.authorities, "name": auth.name}
        return self.api(ex, rest, "whoAmI", bean)

    def crumb_issuer(self, ex: Exchange, rest: list[str]) -> Response:
        """/crumbIssuer/api/* (§3.1): issuing the crumb opens the session."""
        field = self.state.features.crumb_field
        crumb = ex.crumb()
        bean = {"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": crumb,
                "crumbRequestField": field}
        return self.api(ex, rest, "defaultCrumbIssuer", bean, crumb=(field, crumb))

    def user(self, ex: Exchange, record: UserRecord, rest: list[str]) -> Response:
        """Everything below /user/{id} and /me."""
        if rest in ([], [""]):
            return ex.page(200, record.full_name, pages.user_body(record.id, record.full_name))
        head = rest[0]
        if head == "api":
            return self.api(ex, rest, "user", self.user_bean(ex, record))
        if head == "descriptorByName":
            return tokens.dispatch(ex, record, rest[1:])
        if head == "security" and self.state.features.security_page:
            if len(rest) == 1:
                return redirect(ex.req.base_url + "/", 302)
            if rest[1:] == [""]:
                return securitypage.security(ex, record)
        if head == "configure" and rest[1:] in ([], [""]):
            return securitypage.configure(ex, record)
        return ex.not_found()

    def user_bean(self, ex: Exchange, record: UserRecord) -> dict:
        """hudson.model.User's export (§4.9); properties only for self or admin."""
        visible = ex.auth.admin or self.state.same_user(ex.auth.name, record.id)
        return {"_class": "hudson.model.User",
                "absoluteUrl": ex.root_url + "user/" + quote(record.id.lower(), safe=""),
                "description": None, "fullName": record.full_name, "id": record.id,
                "property": [{"_class": "jenkins.security.ApiTokenProperty"}] if visible else []}

