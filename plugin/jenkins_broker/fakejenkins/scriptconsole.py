"""``/scriptText`` and ``/script`` (docs/jenkins-behaviour.md §4.10) without a Groovy
interpreter.

No Groovy is ever executed here, so no test executes the scripts of
:mod:`jenkins_broker.jenkins.scripts`. A script is recognised only if
:func:`~jenkins_broker.jenkins.scripts.recognize` accepts it (exactly what
``scripts.render`` produces); its operation is then carried out in Python against
the fake's state, as the Groovy is meant to act on the emulated version, printing
the one ``jenkins-broker-result``/``-error`` line. Since recognition re-renders
from ``scripts.py``, an edit of the Groovy there changes nothing here: a mistake
in the Groovy passes every test.
What the Groovy would throw on that version (no ``tokenStore`` before 2.129, no
``generateNewToken(String, LocalDate)`` before 2.548) comes back as a Java stack
trace in an HTTP 200 body, as Jenkins does. Any other script gets a
MissingPropertyException trace and a line saying there is no interpreter here.

``state.script_fault`` makes recognized scripts fail on purpose: ``True`` or
``"before"`` (throws before touching anything), ``"after"`` (the change is made,
then ``user.save()`` throws, so nothing is printed), or any other string (used as
the exception message, thrown before any change).
"""

from __future__ import annotations

import datetime as dt
import json
import re

from werkzeug.wrappers import Response

from ..jenkins import scripts
from . import pages
from .exchange import ADMINISTER, RUN_SCRIPTS, Exchange
from .state import JenkinsState, short_date

NO_INTERPRETER = ("This fake Jenkins has no Groovy interpreter: its script console runs only "
                  "the scripts jenkins-broker itself sends (jenkins_broker.jenkins.scripts).")

_RUNNER_FRAMES = (
    "Script1.run(Script1.groovy:{line})",
    "groovy.lang.GroovyShell.evaluate(GroovyShell.java:574)",
    "groovy.lang.GroovyShell.evaluate(GroovyShell.java:612)",
    "groovy.lang.GroovyShell.evaluate(GroovyShell.java:583)",
    "hudson.util.RemotingDiagnostics$Script.call(RemotingDiagnostics.java:142)",
    "hudson.util.RemotingDiagnostics$Script.call(RemotingDiagnostics.java:114)",
    "hudson.remoting.LocalChannel.call(LocalChannel.java:47)",
    "hudson.util.RemotingDiagnostics.executeGroovy(RemotingDiagnostics.java:66)",
    "jenkins.model.Jenkins._doScript(Jenkins.java:4455)",
    "jenkins.model.Jenkins.doScriptText(Jenkins.java:4433)",
    "java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke("
    "DirectMethodHandleAccessor.java:103)",
    "org.kohsuke.stapler.Function$MethodFunction.invoke(Function.java:397)",
)


class GroovyFailure(Exception):
    """A script "threw"; ``trace`` is what Jenkins would print for it."""

    def __init__(self, exception: str, message: str, frames=(), line: int = 1):
        super().__init__(exception)
        lines = [f"{exception}: {message}"]
        lines += [f"\tat {frame}" for frame in frames]
        lines += [f"\tat {frame.format(line=line)}" for frame in _RUNNER_FRAMES]
        self.trace = "\n".join(lines) + "\n"


def _missing_property(prop: str, cls: str, line: int) -> GroovyFailure:
    return GroovyFailure("groovy.lang.MissingPropertyException",
                         f"No such property: {prop} for class: {cls}",
                         ("org.codehaus.groovy.runtime.ScriptBytecodeAdapter.unwrap("
                          "ScriptBytecodeAdapter.java:66)",
                          "org.codehaus.groovy.runtime.callsite.GetEffectivePojoPropertySite"
                          ".getProperty(GetEffectivePojoPropertySite.java:66)"), line)


def _missing_method(method: str, types: str, line: int) -> GroovyFailure:
    return GroovyFailure("groovy.lang.MissingMethodException",
                         f"No signature of method: jenkins.security.apitoken.ApiTokenStore."
                         f"{method}() is applicable for argument types: ({types})",
                         ("org.codehaus.groovy.runtime.ScriptBytecodeAdapter.unwrapMethodMissing"
                          "Exception(ScriptBytecodeAdapter.java:58)",), line)


def _groovy_str(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _emit(kind: str, body: dict) -> str:
    # println('jenkins-broker-' + kind + ' ' + JsonOutput.toJson(body)); JsonOutput escapes
    # non-ASCII characters, and the script's last expression is null, so no "Result:" line.
    return f"jenkins-broker-{kind} " + json.dumps(body, ensure_ascii=True,
                                                  separators=(",", ":")) + "\n"


def _as_long(value, line: int) -> int:
    """Groovy's ``value as long``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise GroovyFailure("org.codehaus.groovy.runtime.typehandling.GroovyCastException",
                            f"Cannot cast object '{_groovy_str(value)}' to class 'long'",
                            line=line)
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?\d+", value.strip()):
            raise GroovyFailure("java.lang.NumberFormatException",
                                f'For input string: "{value}"', line=line)
        return int(value.strip())
    return int(value)


def _mint(state: JenkinsState, record, args: dict) -> str:
    if not state.features.new_tokens:
        raise _missing_property("tokenStore", "jenkins.security.ApiTokenProperty", 16)
    name, days = args.get("name"), args.get("expiration_days")
    if name is not None and not isinstance(name, str):
        raise _missing_method("generateNewToken", type(name).__name__, 17)
    expires = None
    if days is not None:
        if not state.features.expiry:
            raise _missing_method("generateNewToken", "String, java.time.LocalDate", 16)
        try:
            expires = state.today() + dt.timedelta(days=_as_long(days, 16))
        except OverflowError:
            raise GroovyFailure("java.time.DateTimeException", "Invalid date", line=16) from None
    token, value = state.generate_token(record, name, expires)
    _fault_after(state, 20)
    return _emit("result", {"tokenUuid": token.uuid, "tokenName": name, "tokenValue": value})


def _revoke(state: JenkinsState, record, args: dict) -> str:
    if not state.features.new_tokens:
        raise _missing_property("tokenStore", "jenkins.security.ApiTokenProperty", 10)
    token_uuid = args.get("uuid")
    if token_uuid is not None and not isinstance(token_uuid, str):
        raise _missing_method("revokeToken", type(token_uuid).__name__, 10)
    # The script calls tokenStore.revokeToken, which keeps a legacy secret (unlike doRevoke).
    gone = state.revoke(record, token_uuid, clear_legacy=False) if token_uuid else None
    if gone is not None:
        _fault_after(state, 13)
    return _emit("result", {"revoked": gone is not None})


def _list(state: JenkinsState, record, args: dict) -> str:
    if not state.features.new_tokens:
        raise _missing_property("tokenList", "jenkins.security.ApiTokenProperty", 9)
    if any(t.name is None for t in record.tokens):
        # getTokenList sorts by name.toLowerCase(): a token minted with a null name breaks it.
        raise GroovyFailure("java.lang.NullPointerException",
                            'Cannot invoke "String.toLowerCase(java.util.Locale)" because the '
                            'return value of "jenkins.security.apitoken.ApiTokenStore$HashedToken'
                            '.getName()" is null', line=9)
    rows = []
    for t in state.sorted_tokens(record):
        expires = None
        if state.features.expiry:
            # TokenInfoAndStats.expirationDate is display text: "never" or a SHORT date.
            expires = "never" if t.expires is None else short_date(t.expires)
        rows.append({"uuid": t.uuid, "name": t.name, "legacy": t.legacy,
                     "creationDate": None if t.created is None
                     else int(t.created.timestamp() * 1000),
                     "useCounter": t.use_counter, "expirationDate": expires})
    return _emit("result", {"tokens": rows})


_OPERATIONS = {"mint-token": _mint, "revoke-token": _revoke, "list-tokens": _list}


def _fault_after(state: JenkinsState, line: int) -> None:
    if state.script_fault == "after":
        raise GroovyFailure("java.io.IOException",
                            "Failed to save user config.xml (fake Jenkins script_fault)",
                            ("hudson.XmlFile.write(XmlFile.java:223)",
                             "hudson.model.User.save(User.java:893)"), line)


def run(state: JenkinsState, script: str) -> str:
    """What ``/scriptText`` prints for ``script`` (never raises)."""
    if not script.strip():
        return ""
    found = scripts.recognize(script)
    if found is None:
        failure = _missing_property("groovy", "Script1", 1)
        return failure.trace + NO_INTERPRETER + "\n"
    operation, args = found
    fault = state.script_fault
    try:
        if fault and fault != "after":
            message = fault if isinstance(fault, str) and fault != "before" else \
                "simulated failure (fake Jenkins script_fault)"
            raise GroovyFailure("java.lang.IllegalStateException", message, line=7)
        record = state.find_user(args.get("user"), full_name=False)
        if record is None:
            message = "Jenkins has no user " + _groovy_str(args.get("user"))
            return _emit("error", {"code": "no-such-user", "message": message})
        return _OPERATIONS[operation](state, record, args)
    except GroovyFailure as failure:
        return failure.trace


def handle(ex: Exchange, *, page: bool) -> Response:
    """GET/POST /scriptText (text) and /script (HTML): admin only, POST to run (§4.10)."""
    if not ex.auth.admin:
        return ex.access_denied(ADMINISTER if ex.state.features.script_needs_administer
                                else RUN_SCRIPTS)
    script = ex.param("script")
    output = None
    if script is not None:
        if ex.req.method != "POST":
            return ex.oops(405)       # HttpResponses.error(405, "requires POST"): no Allow
        output = run(ex.state, script)
    if page:
        return ex.page(200, "Script Console", pages.script_console_body(script or "", output))
    return ex.text(output or "")
