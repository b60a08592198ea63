"""The API's own description: the OpenAPI document in ``openapi.yaml`` (next to this
module, shipped as package data), served without a token.

``/v1/sys/internal/specs/openapi`` is where Vault serves its own document (JSON);
``/openapi.yaml`` is the file as written. The file is read once, on first use.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml
from flask import Blueprint, Response, jsonify

bp = Blueprint("docs", __name__)


@functools.cache
def openapi_text() -> str:
    """The OpenAPI document as YAML text."""
    return resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, parsed (do not modify: it is shared)."""
    return yaml.safe_load(openapi_text())


@bp.route("/v1/sys/internal/specs/openapi", methods=["GET"])
def openapi_json():
    """The OpenAPI document as JSON, where Vault serves its own."""
    return jsonify(openapi_document())


@bp.route("/openapi.yaml", methods=["GET"])
def openapi_yaml():
    """The OpenAPI document as YAML, as kept in the repository."""
    return Response(openapi_text(), mimetype="application/yaml")
