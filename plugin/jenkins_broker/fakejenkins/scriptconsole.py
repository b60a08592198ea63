"""``/scriptText`` and ``/script`` (docs/jenkins-behaviour.md §4.10): Groovy, run for real.

The script goes to the fake's :class:`~.groovyconsole.GroovyConsole` (one JVM per fake,
Groovy 2.4 as Jenkins bundles) and runs against Jenkins-shaped classes backed by the
fake's own users and tokens: ``println`` output is the body, a final value that is not
null adds ``Result: <value>``, and a script that throws answers 200 with its stack
trace, as on Jenkins. The checks (Administer, or RunScripts before 2.222; POST) are
made under the state's lock; the script itself runs after the lock is released
(:class:`~.exchange.Deferred`), so it may take its time and its calls take the lock one
at a time (:mod:`.bridge`).

``state.script_fault`` makes scripts fail on purpose: ``True`` or ``"before"`` (the
script throws IllegalStateException before it starts), ``"after"`` (``user.save()``
throws IOException, so a change made before it stays), or any other string (the message
of the exception thrown before the script starts).

Without Groovy 2.4 and Java (:mod:`.groovyruntime`), a script answers 200 with a body
that says so and how to install them; nothing else of the fake needs them.
"""

from __future__ import annotations

from werkzeug.wrappers import Response

from . import pages
from .bridge import Caller
from .exchange import ADMINISTER, RUN_SCRIPTS, Deferred, Exchange
from .groovyconsole import GroovyConsole, GroovyConsoleError
from .groovyruntime import GroovyUnavailable

UNAVAILABLE = "fake Jenkins: this script console runs Groovy, and cannot here: "
FAULT_MESSAGE = "simulated failure (fake Jenkins script_fault)"

#: Why each script this process's fakes could not run was refused, oldest first. A test
#: harness reads it to skip the tests that needed Groovy where there is none.
UNAVAILABLE_REASONS: list[str] = []


def _fault(value) -> str | None:
    """The message a script throws before it starts, or None."""
    if not value or value == "after":
        return None
    return value if isinstance(value, str) and value != "before" else FAULT_MESSAGE


def run(console: GroovyConsole, script: str, caller: Caller, *, root_url: str = "",
        fault=None) -> str:
    """What ``/scriptText`` prints for ``script`` (never raises)."""
    if not script.strip():
        return ""
    try:
        return console.run(script, caller, root_url=root_url, fault=_fault(fault))
    except (GroovyUnavailable, GroovyConsoleError) as exc:
        if isinstance(exc, GroovyUnavailable):
            UNAVAILABLE_REASONS.append(str(exc))
        return UNAVAILABLE + str(exc) + "\n"


def handle(ex: Exchange, console: GroovyConsole, *, page: bool) -> Response | Deferred:
    """GET/POST /scriptText (text) and /script (HTML): admin only, POST to run (§4.10)."""
    if not ex.auth.admin:
        return ex.access_denied(ADMINISTER if ex.state.features.script_needs_administer
                                else RUN_SCRIPTS)
    script = ex.param("script")
    if script is None:
        return answer(ex, page, "", None)
    if ex.req.method != "POST":
        return ex.oops(405)       # HttpResponses.error(405, "requires POST"): no Allow
    caller = Caller(ex.auth.name if ex.auth.user is not None else None, ex.auth.admin)
    root_url, fault = ex.root_url, ex.state.script_fault
    return Deferred(lambda: run(console, script, caller, root_url=root_url, fault=fault),
                    lambda output: answer(ex, page, script, output))


def answer(ex: Exchange, page: bool, script: str, output: str | None) -> Response:
    if page:
        return ex.page(200, "Script Console", pages.script_console_body(script, output))
    return ex.text(output or "")
