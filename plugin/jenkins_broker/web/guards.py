"""Request guards that hold for every route: verbs that never act, no caching, no redirects.

- ``HEAD`` and ``OPTIONS`` never reach a view (Flask would run a GET view for ``HEAD``,
  and a mint is a GET): they are 405 in Vault's error shape, except ``HEAD
  /v1/sys/health``, which load balancers use and which changes nothing.
- Every answer carries ``Cache-Control: no-store``, as Vault's do: mints, lease
  lookups and errors alike, so no proxy or browser cache keeps a token.
- Routing never redirects. werkzeug builds a redirect's ``Location`` from the request's
  ``Host`` header; a request that would be redirected is a 404 instead.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

#: Views that answer HEAD (they read nothing secret and change nothing).
HEAD_ALLOWED = frozenset({"ops.health"})

_NEVER = frozenset({"HEAD", "OPTIONS"})


def init_app(app: Flask) -> None:
    """Register the guards on ``app``."""

    @app.before_request
    def _guard():
        exc = request.routing_exception
        if isinstance(exc, RequestRedirect):
            raise NotFound()
        if request.method in _NEVER and exc is None:
            if request.method == "HEAD" and request.endpoint in HEAD_ALLOWED:
                return None
            rule = request.url_rule
            allowed = sorted((rule.methods or set()) - _NEVER) if rule is not None else []
            raise MethodNotAllowed(valid_methods=allowed)
        return None

    @app.after_request
    def _no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        return response
