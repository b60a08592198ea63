"""The API's own description: the OpenAPI document in ``openapi.yaml`` (next to this
module, shipped as package data), served without a token, and the help of each path.

It is served at ``/openapi.yaml``, the file as written, read once, on first use. Vault's
own document (``/v1/sys/internal/specs/openapi``) is Vault's to answer: that path goes
through to Vault like every path the broker does not own.

``?help=1`` on any of the broker's paths (what ``vault path-help`` sends) answers, as
Vault does, ``help`` (text), ``openapi`` (the document's entry for that path) and
``see_also``, to a token that may do anything there; the view never runs, so a help
request on ``jenkins/creds/<role>`` never mints.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import yaml
from flask import Blueprint, Flask, Response, jsonify, request

from .auth import require_any

bp = Blueprint("docs", __name__)

_METHODS = ("get", "put", "post", "delete", "patch")


@functools.cache
def openapi_text() -> str:
    """The OpenAPI document as YAML text."""
    return resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, parsed (do not modify: it is shared)."""
    return yaml.safe_load(openapi_text())


@bp.route("/openapi.yaml", methods=["GET"])
def openapi_yaml():
    """The OpenAPI document as YAML, as kept in the repository."""
    return Response(openapi_text(), mimetype="application/yaml")


def help_answer(rule: str, path: str) -> dict[str, Any]:
    """Vault's help shape for the broker's route ``rule`` (a Flask rule) and request ``path``."""
    document = openapi_document()
    template = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)
    item = document["paths"].get(template, {})
    lines = [f"Request:        {path}", f"Matching Route: {template}", ""]
    for method in _METHODS:
        operation = item.get(method)
        if operation:
            lines.append(f"{method.upper()}: {operation.get('summary', '')}")
            if operation.get("description"):
                lines += ["", operation["description"].strip()]
            lines.append("")
    for parameter in item.get("parameters", []):
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        lines.append(f"    {parameter.get('name')} ({parameter.get('in')}): "
                     f"{parameter.get('description', '').strip()}")
    return {"help": "\n".join(lines).strip() + "\n",
            "openapi": {"openapi": document["openapi"], "info": document["info"],
                        "paths": {template: item}, "components": document["components"]},
            "see_also": None}


def init_app(app: Flask) -> None:
    """Answer ``?help=1`` on the broker's paths before any view runs."""

    @app.before_request
    def _help():
        if request.args.get("help", "").lower() not in ("1", "true") or request.url_rule is None:
            return None
        if not request.path.startswith("/v1/"):
            return None  # /metrics, /openapi.yaml: not Vault paths
        path = request.path[len("/v1/"):]
        require_any(path.rstrip("/"))
        return jsonify(help_answer(request.url_rule.rule, path))
