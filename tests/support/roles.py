"""The role most tests write: Jenkins user ci-bot, its own API token (``user-token``)."""

from __future__ import annotations

from typing import Any

from jenkins_broker.domain.roles import Role, build_role


def ci_bot_role(name: str = "ci-bot", **fields: Any) -> Role:
    """``build_role(name, ...)`` for Jenkins user ci-bot with strategy ``user-token`` and
    credential ``ci-bot``; ``fields`` add to these or replace them (``ttl="10m"``,
    ``credential="ci-bot-token"``). Raises InvalidRole as ``build_role`` does."""
    return build_role(name, {"jenkins_user": "ci-bot", "strategy": "user-token",
                             "credential": "ci-bot", **fields})
