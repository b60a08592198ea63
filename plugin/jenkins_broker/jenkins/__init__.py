"""The Jenkins side of jenkins-broker: the only code that talks to Jenkins.

Public API (everything else in this package is internal)::

    from jenkins_broker.jenkins import (JenkinsClient, Credential, MintedToken, TokenInfo,
                                        make_strategy, STRATEGIES)

    client = JenkinsClient("https://jenkins.example.com/", kind="jenkins",
                           timeout=10.0, verify=True)        # verify: bool or CA bundle path
    client.version()           # "2.555.1" from X-Jenkins, or None; cached
    client.version_tuple()     # (2, 555, 1)
    client.verify_token("ci-bot", value)   # GET whoAmI/api/json as ci-bot:value -> bool
    client.whoami("ci-bot", value)         # the whoAmI JSON object

    strategy = make_strategy("user-password", client, Credential("ci-bot", "s3cret"))
    minted = strategy.mint(user="ci-bot", name="jenkins-broker-abc", max_lease_seconds=900)
    minted.uuid, minted.name, minted.value, minted.expiration_date, minted.legacy
    strategy.revoke(user="ci-bot", uuid=minted.uuid)     # idempotent
    strategy.list_tokens(user="ci-bot")                  # -> [TokenInfo]
    client.close()

Strategies (``STRATEGIES`` keys): ``user-token``, ``user-password``,
``admin-script``, ``admin-rest``, ``legacy`` (see :mod:`.strategies`).

``kind`` is ``"jenkins"``, ``"cloudbees-operations-center"`` or
``"cloudbees-controller"``; minting on a controller raises
:class:`~jenkins_broker.errors.CloudBeesControllerRefused`.

Every failure is an :mod:`jenkins_broker.errors` exception (``JenkinsError``
subtree, or ``ConfigError`` for a bad setting); see :mod:`.answers` for the
mapping. No message, ``repr`` or ``str`` shows a password or token value.
"""

from .client import KINDS, JenkinsClient
from .models import LEGACY_TOKEN_ID, Credential, MintedToken, TokenInfo, expiration_days
from .strategies import STRATEGIES, Strategy, make_strategy

__all__ = [
    "KINDS", "JenkinsClient", "Credential", "MintedToken", "TokenInfo", "LEGACY_TOKEN_ID",
    "expiration_days", "STRATEGIES", "Strategy", "make_strategy",
]
