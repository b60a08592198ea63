"""What the bad-input tests (``tests/integration/bad_input/``) share: the role they mint
from, the bodies of a valid role and credential, and :class:`Env`, the stack with the
root token and one lease minted before any bad input (the ``env`` fixture).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tests.support.wire import send

ROLE = "bad-input"
ROLE_BODY = {"jenkins_user": "ci-bot", "strategy": "user-token", "credential": "ci-bot-token"}
CREDENTIAL_BODY = {"username": "ci-bot", "token": "not-a-real-token"}
MB = 1024 * 1024


@dataclass
class Env:
    """The stack, its root token, and the lease minted before any bad input."""

    stack: object
    root: str
    lease_id: str

    @property
    def auth(self) -> dict:
        return {"X-Vault-Token": self.root}

    def json_headers(self) -> dict:
        return {**self.auth, "Content-Type": "application/json"}


def lookup(stack, root, lease_id) -> dict:
    """``PUT /v1/sys/leases/lookup`` of ``lease_id`` through the broker; its ``data``."""
    answer = send(stack, "PUT", "/v1/sys/leases/lookup", {"X-Vault-Token": root},
                  json.dumps({"lease_id": lease_id}).encode())
    assert answer.status == 200, answer.body
    return answer.json()["data"]
