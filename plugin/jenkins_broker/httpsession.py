"""HTTP sessions for the broker's long-lived clients (Jenkins, Vault).

:func:`make_session` gives a :class:`~jenkins_broker.leanhttp.LeanSession`, a
keep-alive client on ``http.client`` that costs about a third of the CPU of
``requests`` per call; callers use the ``requests`` calling convention either way.
When a proxy applies to the URL (``HTTPS_PROXY``, ``NO_PROXY``, ...) it gives a
``requests`` session with that proxy instead. Both read the environment once,
here, for their one base URL, never per call; TLS settings are passed explicitly
by their owners. Neither keeps cookies between calls.
"""

from __future__ import annotations

import http.cookiejar

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from .leanhttp import LeanResponse, LeanSession

#: What :func:`make_session` gives, and what its ``request`` answers.
Session = LeanSession | requests.Session
Response = LeanResponse | requests.Response


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The session's jar accepts nothing: whoever needs a cookie keeps it itself."""

    def set_ok(self, cookie, request):  # noqa: D102
        return False


def make_session(base_url: str, *, pool_size: int = 32) -> Session:
    """A session for ``base_url`` with ``pool_size`` kept-alive connections.

    Beyond the pool a connection is closed after use, and the next busy request
    pays a new TCP (and TLS) handshake: size it for the broker's worker threads.
    """
    proxies = get_environ_proxies(base_url)
    if not proxies:
        return LeanSession(pool_size=pool_size)
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(proxies)
    session.cookies.set_policy(_NoCookies())
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
