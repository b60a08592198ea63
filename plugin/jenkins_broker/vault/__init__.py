"""The Vault layer: the only code in jenkins-broker that talks to Vault.

=====================  ======================================================
``settings``           :class:`VaultSettings` (from the environment, validated)
``client``             :class:`VaultClient`: the broker's HTTP client for Vault
``login``              building it, login (token, AppRole, Kubernetes); hvac
                       for administrative work
``renewal``            :class:`TokenRenewer`, keeps the broker's token alive
``kv``                 :class:`KVv1` / :class:`KVv2` typed KV helpers
``authz``              :class:`CallerAuthz`: capabilities and identity of callers
``bootstrap``          mounts, policies, AppRole for the broker; tokens
``devserver``          :class:`BaoDevServer`: a real OpenBao for tests and the demo
``translate``          Vault answers, transport and hvac failures ->
                       jenkins_broker.errors
=====================  ======================================================
"""

from jenkins_broker.vault.authz import CallerAuthz, CallerIdentity
from jenkins_broker.vault.bootstrap import BootstrapResult, IssuedToken, bootstrap, create_token
from jenkins_broker.vault.client import VaultClient
from jenkins_broker.vault.devserver import BaoDevServer, find_bao_binary
from jenkins_broker.vault.kv import KVv1, KVv2
from jenkins_broker.vault.login import LoginResult, admin_client, connect, login, new_client
from jenkins_broker.vault.renewal import TokenRenewer
from jenkins_broker.vault.settings import VaultSettings

__all__ = [
    "BaoDevServer", "BootstrapResult", "CallerAuthz", "CallerIdentity", "IssuedToken", "KVv1",
    "KVv2", "LoginResult", "TokenRenewer", "VaultClient", "VaultSettings", "admin_client",
    "bootstrap", "connect",
    "create_token", "find_bao_binary", "login", "new_client",
]
