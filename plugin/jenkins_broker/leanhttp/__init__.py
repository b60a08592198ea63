"""A lean keep-alive HTTP/1.1 client with the part of ``requests.Session`` the broker uses.

Every mint makes three outgoing calls (the caller's capability check, Jenkins'
``generateNewToken``, the lease record write), and on a busy broker their client
side was the largest share of its CPU: ``requests`` spends about 0.3 ms a call
preparing, merging settings and wrapping ``urllib3``, against 0.15 ms for the
whole exchange on ``http.client``. :class:`LeanSession` is that exchange on
``http.client`` with a pool of kept-alive connections, and nothing else:

* ``request(method, url, *, params, data, json, headers, cookies, auth, timeout,
  verify, cert, allow_redirects, proxies)`` with requests' meaning for each;
  it returns a :class:`LeanResponse` (``status_code``, ``reason``, ``headers``,
  ``content``, ``text``, ``json()``, ``ok``, ``url``, ``cookies``).
* Failures raise ``requests.exceptions`` classes (ConnectTimeout, ReadTimeout,
  SSLError, ConnectionError, TooManyRedirects, InvalidURL, JSONDecodeError), so
  the code that maps them to the broker's errors serves both sessions.
* No cookie jar (the broker keeps none; see jenkins/client.py), no proxies
  (:func:`jenkins_broker.httpsession.make_session` hands a URL that has one to
  ``requests``), no compression (``Accept-Encoding: identity``), no streaming.
* ``verify=True`` trusts certifi's bundle, as requests does; a path trusts
  that file or directory only.
* A redirect to another host, scheme or port drops ``Authorization`` and
  ``Cookie`` (http:80 to https:443 on the same host keeps them, as in requests).
* ``verify=False`` warns (``urllib3``'s InsecureRequestWarning) at each new
  connection.
* An idle connection the server has closed is noticed before reuse (as urllib3
  does) and replaced; a request is never sent twice.
"""

from .response import Cookie, LeanResponse
from .session import DEFAULT_HEADERS, LeanSession

__all__ = ["Cookie", "DEFAULT_HEADERS", "LeanResponse", "LeanSession"]
