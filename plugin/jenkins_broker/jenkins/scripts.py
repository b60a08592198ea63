"""Groovy scripts for the script console (``POST /scriptText``), and their strict parsing.

The ``admin-script`` strategy mints and revokes tokens for any user, and token
listing works, by running these scripts as an administrator. They call
``ApiTokenProperty``'s token store the way Jenkins' own ``generateNewToken`` does
(docs/jenkins-behaviour.md §4.1, §10).

The wire protocol between a script and :func:`parse_output`:

* the first line is ``// jenkins-broker:<operation>:v1``;
* the arguments travel as one JSON document inside a single-quoted Groovy string,
  so no caller-supplied text is ever Groovy source;
* the script prints exactly one line ``jenkins-broker-result <json>`` when it
  worked, or ``jenkins-broker-error <json>`` (with ``code`` and ``message``) when
  it refused, and ends with ``null`` so Jenkins adds no ``Result:`` line.

Jenkins answers HTTP 200 even when a script throws (the stack trace is the body),
so success is decided only by that one line: anything else is a failure.

The tests run this Groovy for real: the fake Jenkins' script console evaluates it
with Groovy 2.4, the version Jenkins core bundles, against Jenkins-shaped classes with
the signatures of each emulated version, backed by the fake's own tokens
(docs/fake-jenkins-groovy.md), through the ``admin-script`` strategy end to end on
each version line the tests emulate. Those classes were written from Jenkins' source,
not taken from Jenkins (docs/jenkins-behaviour.md §4.10): try a changed script on a
real Jenkins too.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import JenkinsScriptError, redact

VERSION = "v1"
RESULT_PREFIX = "jenkins-broker-result "
ERROR_PREFIX = "jenkins-broker-error "

_PRELUDE = """\
import groovy.json.JsonOutput
import jenkins.security.ApiTokenProperty
def args = new groovy.json.JsonSlurper().parseText('{args}')
def emit = {{ String kind, Map body -> println('jenkins-broker-' + kind + ' ' + JsonOutput.toJson(body)) }}
def user = hudson.model.User.getById(args.user, false)
if (user == null) {{
  emit('error', [code: 'no-such-user', message: 'Jenkins has no user ' + args.user])
  return null
}}
"""

_BODIES = {
    "mint-token": """\
def prop = user.getProperty(ApiTokenProperty)
if (prop == null) {
  prop = new ApiTokenProperty()
  user.addProperty(prop)
}
def made
if (args.expiration_days != null) {
  made = prop.tokenStore.generateNewToken(args.name, java.time.LocalDate.now().plusDays(args.expiration_days as long))
} else {
  made = prop.tokenStore.generateNewToken(args.name)
}
user.save()
emit('result', [tokenUuid: made.tokenUuid, tokenName: args.name, tokenValue: made.plainValue])
null
""",
    "revoke-token": """\
def prop = user.getProperty(ApiTokenProperty)
def gone = prop == null ? null : prop.tokenStore.revokeToken(args.uuid)
if (gone != null) {
  prop.tokenStats.removeId(args.uuid)
  user.save()
}
emit('result', [revoked: gone != null])
null
""",
    "list-tokens": """\
def prop = user.getProperty(ApiTokenProperty)
def rows = (prop == null ? [] : prop.tokenList).collect { t ->
  def expires = null
  try { expires = t.expirationDate?.toString() } catch (MissingPropertyException ignored) { }
  [uuid: t.uuid, name: t.name, legacy: t.isLegacy, creationDate: t.creationDate?.time,
   useCounter: t.useCounter, expirationDate: expires]
}
emit('result', [tokens: rows])
null
""",
}

OPERATIONS = tuple(_BODIES)


def _groovy_single_quoted(text: str) -> str:
    # Backslashes first, so the JSON's own escapes (\" and \uXXXX) survive Groovy's lexer.
    return text.replace("\\", "\\\\").replace("'", "\\'")


def render(operation: str, **args: Any) -> str:
    """Return the Groovy source of ``operation`` with ``args`` bound.

    Raises ``KeyError`` for an unknown operation.
    """
    body = _BODIES[operation]
    literal = _groovy_single_quoted(json.dumps(args, ensure_ascii=True, sort_keys=True))
    return (f"// jenkins-broker:{operation}:{VERSION}\n"
            + _PRELUDE.format(args=literal) + body)


def parse_output(text: str, *, operation: str, url: str, user: str) -> dict[str, Any]:
    """Parse what ``/scriptText`` printed for ``operation``; return the result object.

    Raises :class:`JenkinsScriptError` unless the output is exactly one result
    line (blank lines aside). The message quotes the output with token-shaped
    text masked.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    results = [line for line in lines if line.startswith(RESULT_PREFIX)]
    refusals = [line for line in lines if line.startswith(ERROR_PREFIX)]
    if refusals and len(lines) == 1:
        try:
            detail = json.loads(refusals[0][len(ERROR_PREFIX):])
            message = str(detail.get("message") or detail.get("code") or "refused")
        except (ValueError, AttributeError):
            message = refusals[0]
        raise JenkinsScriptError(
            f"Jenkins script console at {url} refused {operation} for user {user!r}: "
            f"{redact(message)}", url=url, user=user)
    if len(results) != 1 or len(lines) != 1:
        raise JenkinsScriptError(
            f"The {operation} script failed in Jenkins' script console at {url} "
            f"(user {user!r}); it printed: {redact(text) or '<nothing>'}. "
            "Check that the credential is an administrator's and read the Jenkins log.",
            url=url, user=user)
    try:
        value = json.loads(results[0][len(RESULT_PREFIX):])
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise JenkinsScriptError(
            f"The {operation} script at {url} printed a result that is not a JSON object.",
            url=url, user=user)
    return value
