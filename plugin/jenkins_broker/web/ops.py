"""Operations: ``/v1/sys/health`` and ``/metrics``.

Health is Vault's own ``sys/health`` (its status code, as Vault's query parameters ask,
and its body: version, cluster, seal state), asked by the broker, plus the broker's
readiness: 503 when the broker cannot get that answer from an unsealed Vault.

As in Vault, metrics need a token with ``read`` on ``sys/metrics`` (the shipped admin and
auditor policies grant it; Prometheus sends one with ``bearer_token_file``), unless the
operator sets ``JENKINS_BROKER_METRICS_UNAUTHENTICATED=true``. Health answers anyone with
its status; the details (live leases, Vault's answer, credentials, version) only to a token
that may read ``sys/metrics``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..errors import BrokerError
from .auth import require

if TYPE_CHECKING:
    from ..server.services import Services

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)

#: The Vault path whose ``read`` lets a token scrape metrics and see health details.
METRICS_PATH = "sys/metrics"


def _metrics_open(services: Services) -> bool:
    settings = getattr(services, "settings", None)
    return bool(getattr(settings, "metrics_unauthenticated", False))


def _may_see_details() -> bool:
    """True if the request carries a token that may read :data:`METRICS_PATH`. Never raises:
    a missing, refused or uncheckable token just gets the status."""
    if not (request.headers.get("X-Vault-Token") or request.headers.get("Authorization")):
        return False
    try:
        require(METRICS_PATH, "read")
    except BrokerError as exc:
        log.debug("health details withheld: %s", type(exc).__name__)
        return False
    return True


@bp.route("/v1/sys/health", methods=["GET", "HEAD"])
def health():
    """Vault's health answer through the broker, 503 when the broker is not ready.

    Anyone gets Vault's answer (Vault gives it to anyone); a token with ``read`` on
    ``sys/metrics`` also gets ``broker``: its readiness, version, live leases and which
    stored credentials Jenkins accepts.
    """
    services: Services = current_app.extensions["jenkins_broker"]
    try:
        status, vault = services.store.vault_health(request.query_string.decode("latin-1"))
    except BrokerError as exc:
        log.info("health: Vault cannot be asked: %s", type(exc).__name__)
        status, vault = 503, None
    ready = vault is not None and bool(vault.get("initialized")) and not vault.get("sealed")
    answer: dict[str, Any] = dict(vault) if vault else {
        "initialized": True, "sealed": True, "standby": False}  # as far as the broker can tell
    if not ready and status < 500:
        status = 503
    if request.method == "GET" and _may_see_details():
        answer["broker"] = {
            "ready": ready, "version": services.version,
            "live_leases": services.reaper.live_count() if services.reaper else None,
            "leases_loaded": services.reaper.loaded.is_set() if services.reaper else None,
            # Which stored credentials Jenkins accepts (a holder may have revoked one).
            "credentials": {name: "ok" if state["ok"] else "rejected" for name, state in
                            services.credentials.snapshot().items()}
            if services.credentials is not None else {}}
    out = jsonify(answer)
    out.status_code = status
    return out


@bp.route("/metrics", methods=["GET"])
def metrics():
    """Prometheus text exposition of the broker's metrics (``read`` on ``sys/metrics``)."""
    services: Services = current_app.extensions["jenkins_broker"]
    if not _metrics_open(services):
        require(METRICS_PATH, "read")
    return Response(generate_latest(services.metrics.registry), mimetype=CONTENT_TYPE_LATEST)
