"""The broker's Vault-compatible HTTP API.

``create_app`` reads top to bottom as the start-up sequence: defaults, then the
caller's overrides, then the services (built elsewhere, handed in), then error
handling, then one blueprint per path group.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from . import admin, creds, docs, errors, forward, guards, leases, ops, wrapping


def create_app(services: Any, test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app around ``services`` (a :class:`jenkins_broker.server.services.Services`)."""
    app = Flask(__name__, static_folder=None)  # no /static route: this is an API
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=1024 * 1024,  # bodies over 1 MB get 413
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    app.url_map.strict_slashes = False
    # No redirects: werkzeug's merge_slashes would answer ``/v1//x`` with a 308 whose
    # Location is built from the request's Host header. A doubled slash is a 404 instead.
    app.url_map.merge_slashes = False
    app.extensions["jenkins_broker"] = services
    errors.init_app(app)
    guards.init_app(app)
    docs.init_app(app)  # ?help=1, after the guards: HEAD and OPTIONS never reach it
    wrapping.init_app(app)  # X-Vault-Wrap-TTL: read before any view, answers wrapped after
    for blueprint in (creds.bp, leases.bp, admin.bp, ops.bp, docs.bp):
        app.register_blueprint(blueprint)
    upstream = getattr(services, "upstream", None)
    if upstream is not None:  # what the broker does not own goes to Vault unchanged
        app.wsgi_app = forward.VaultFront(  # type: ignore[method-assign]
            app.wsgi_app, app.url_map, upstream, forwarded=services.metrics.forwarded,
            holds_leases=lambda: bool(services.store.list_lease_roles()))
    return app
