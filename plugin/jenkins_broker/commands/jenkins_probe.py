"""Does a URL answer as Jenkins? What ``config write`` asks before it stores the Jenkins URL,
and ``check`` of the stored one.

Every Jenkins sends an ``X-Jenkins: <version>`` header on ``/api/json`` and ``/login``
(docs/jenkins-behaviour.md §6); Vault, a proxy's page or another server do not. When the
header is missing, :func:`jenkins_version` says what answered instead (Vault's
``/v1/sys/health``, say), so that the mistake is named, not only refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import transport
from ..errors import BrokerError, JenkinsError, JenkinsProtocolError
from ..jenkins.client import open_client

if TYPE_CHECKING:
    from ..jenkins.client import JenkinsClient


def jenkins_version(client: JenkinsClient) -> str:
    """The version Jenkins at ``client.url`` advertises (``X-Jenkins`` on ``/api/json`` or
    ``/login``, which every Jenkins sends). Raises ``JenkinsProtocolError`` (saying what
    answered instead: Vault, say) when the answers lack it, and the client's
    ``JenkinsUnavailable`` when nothing answers."""
    version = client.version(refresh=True)
    if version:
        return version
    raise JenkinsProtocolError(f"{client.url} does not answer as Jenkins: {_what_answers(client)}",
                               url=client.url)


def _what_answers(client: JenkinsClient) -> str:
    """What answered at ``client.url`` instead of Jenkins, in a few words."""
    try:
        health = client.session.request("GET", client.url + "v1/sys/health", timeout=5)
        data = health.json()
        if isinstance(data, dict) and "initialized" in data and "sealed" in data:
            return ("it is a Vault/OpenBao server (its /v1/sys/health answered), not Jenkins: "
                    "give Jenkins' URL, not VAULT_ADDR.")
    except (transport.TransportError, ValueError):
        pass
    try:
        login = client.session.request("GET", client.url + "login", timeout=5, redirect=True)
    except transport.TransportError as exc:
        return f"GET {client.url}login failed ({exc.reason})"
    kind = login.headers.get("Content-Type", "").split(";")[0] or "no content type"
    return (f"GET {client.url}login answered HTTP {login.status} ({kind}) without the X-Jenkins "
            "header every Jenkins sends there; is it Jenkins' root URL (with its context path, "
            "such as /jenkins/, if it has one)?")

def probe_jenkins(config: Any) -> str:
    """The version of the Jenkins ``config`` points at; ``BrokerError`` saying what answered
    instead, or that nothing did, and that ``--no-check`` stores the URL anyway."""
    anyway = "To store the URL anyway (Jenkins is not up yet, say), add --no-check."
    with open_client(config) as client:
        try:
            return jenkins_version(client)
        except JenkinsProtocolError as exc:  # something answers, not as Jenkins
            raise BrokerError(f"--url: {exc} {anyway}") from None
        except JenkinsError as exc:
            raise BrokerError(f"--url: nothing answers as Jenkins at {config.url}: {exc} {anyway}") from None
