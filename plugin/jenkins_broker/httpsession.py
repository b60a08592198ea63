"""``requests`` sessions for the broker's long-lived clients (Jenkins, Vault).

A plain session re-reads the environment on every request (proxy variables,
``REQUESTS_CA_BUNDLE``, ``~/.netrc``): about 0.1 ms of CPU a call, several calls a
mint. These sessions read the proxy settings once, for their one base URL, and
never look again; TLS settings are passed explicitly by their owners.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies


def make_session(base_url: str, *, pool_size: int = 32) -> requests.Session:
    """A session for ``base_url`` with ``pool_size`` kept-alive connections.

    Proxies (``HTTPS_PROXY``, ``NO_PROXY``, ...) are resolved now for that URL.
    """
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(get_environ_proxies(base_url))
    # Beyond the pool a connection is closed after use, and the next busy request
    # pays a new TCP (and TLS) handshake: size it for the broker's worker threads.
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
