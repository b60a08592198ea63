"""``jenkins-broker check``: is everything the broker needs in place and working?

Checks, in order, and reports each with ok/FAIL and a hint: Vault reachable and
unsealed; the broker's mounts present; Jenkins configured, reachable, and its
version; every role's stored credential logs in to Jenkins as its user.
Exit status 0 only if everything passed.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

from ..errors import BrokerError, JenkinsAuthError, redact
from ..jenkins.client import logs_in_as


def _step(results: list[dict[str, Any]], name: str, action: Callable[[], str]) -> bool:
    try:
        detail = action()
        results.append({"check": name, "ok": True, "detail": detail})
        return True
    except BrokerError as exc:
        results.append({"check": name, "ok": False, "detail": redact(str(exc), limit=400)})
        return False


def run_check(args: argparse.Namespace) -> int:
    """Run every check and print the results; returns the exit status."""
    from ..jenkins.gateway import JenkinsGateway
    from .admin import open_store
    from .output import emit_rows

    results: list[dict[str, Any]] = []
    holder: dict[str, Any] = {}

    def vault() -> str:
        holder["store"] = store = open_store()
        health = store.health()
        if health.get("sealed"):
            raise BrokerError("Vault is sealed: unseal it (bao operator unseal)")
        return f"reachable, unsealed, version {health.get('version')}"

    def mounts() -> str:
        store = holder["store"]
        store.kv.list("roles")
        store.shared.list("creds")
        return f"{store.kv.mount}/ (KV v2) and {store.shared.mount}/ (KV v1) answer"

    def jenkins() -> str:
        gateway = holder["gateway"] = JenkinsGateway(holder["store"])
        version = gateway.version()
        return f"{gateway.jenkins_url} answers, Jenkins {version or 'version not advertised'}"

    ok = _step(results, "vault", vault) and _step(results, "mounts", mounts)
    if ok and _step(results, "jenkins", jenkins):
        store, gateway = holder["store"], holder["gateway"]
        client, _ = gateway._connection()
        for name in store.list_roles():
            role = store.get_role(name)
            if role is None:
                continue

            def credential(role=role) -> str:
                stored = store.get_credential(role.credential)
                if stored is None:
                    raise BrokerError(f"credential {role.credential!r} is not stored")
                try:
                    who = client.whoami(stored.username, stored.secret)
                except JenkinsAuthError:
                    raise BrokerError(f"Jenkins refuses credential {role.credential!r} (401): revoked "
                                      "(a holder of a leased token of the same user can do that), "
                                      "expired or wrong; write it again with `jenkins-broker "
                                      "credentials write`") from None
                if not logs_in_as(who, stored.username):
                    raise BrokerError(f"credential {role.credential!r} did not log in as "
                                      f"{stored.username!r}")
                detail = f"{role.strategy}: credential {role.credential!r} logs in as {stored.username}"
                if stored.kind == "token" and not stored.token_uuid:
                    detail += (f"; not rotated, so foreign tokens on {stored.username!r} are only "
                               f"reported: run `jenkins-broker credentials rotate {role.credential}`")
                return detail

            ok = _step(results, f"role {name}", credential) and ok
        if not store.list_roles():
            results.append({"check": "roles", "ok": True, "detail": "no roles yet"})
    else:
        ok = False
    for row in results:
        row["ok"] = "ok" if row["ok"] is True else ("FAIL" if row["ok"] is False else row["ok"])
    emit_rows(args, results, ["check", "ok", "detail"])
    return 0 if all(r["ok"] == "ok" for r in results) else 1
