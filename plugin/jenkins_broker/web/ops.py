"""Operations: ``/v1/sys/health`` and ``/metrics``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..errors import BrokerError

if TYPE_CHECKING:
    from ..server.services import Services

bp = Blueprint("ops", __name__)


@bp.route("/v1/sys/health", methods=["GET", "HEAD"])
def health():
    """200 when the broker can reach an unsealed Vault; 503 otherwise (for load balancers)."""
    services: Services = current_app.extensions["jenkins_broker"]
    try:
        vault = services.store.health()
        healthy = vault.get("initialized", True) and not vault.get("sealed", False)
    except BrokerError:
        vault, healthy = {"reachable": False}, False
    out = jsonify({"initialized": True, "sealed": not healthy, "standby": False,
                   "version": services.version, "vault": vault,
                   "live_leases": services.reaper.live_count() if services.reaper else None,
                   "leases_loaded": services.reaper.loaded.is_set() if services.reaper else None,
                   # Which stored credentials Jenkins accepts (a holder may have revoked one).
                   "credentials": {name: "ok" if state["ok"] else "rejected" for name, state in
                                   services.credentials.snapshot().items()}
                   if services.credentials is not None else {}})
    out.status_code = 200 if healthy else 503
    return out


@bp.route("/metrics", methods=["GET"])
def metrics():
    """Prometheus text exposition of the broker's metrics."""
    registry = current_app.extensions["jenkins_broker"].metrics.registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
