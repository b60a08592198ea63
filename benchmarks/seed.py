"""Seeding many leases fast: real Jenkins tokens and real lease records in Vault.

Tokens are minted with ``generateNewToken`` from a thread pool and named as the
broker names them (``jenkins-broker-<role>-<id>``), so reconciliation sees them
as the broker's. Records are :class:`~jenkins_broker.domain.records.LeaseRecord`\\ s
written with the broker's store (one KV v2 write each) from a thread pool. This
is exactly the state ``N`` mints would leave, without paying ``N`` mints.
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor

from jenkins_broker.domain.records import LeaseRecord, Requester, token_fingerprint

from .stack import PREFIX, TOKEN_DESCRIPTOR, Stack, session

SEED_REQUESTER = Requester("seeded-accessor-xxxxxxxxxx", "", "token-bench-seed")


def mint_tokens(stack: Stack, role: str, n: int, threads: int = 16,
                user: str = "ci-bot") -> list[dict[str, str]]:
    """``n`` real tokens of ``user`` named for ``role``: ``[{suffix, uuid, name, sha256}]``."""
    http = session(threads)
    url = f"{stack.jenkins_url}user/{user}/{TOKEN_DESCRIPTOR}generateNewToken"
    auth = (user, stack.bootstrap_tokens[user])

    def one(_: int) -> dict[str, str]:
        suffix = secrets.token_hex(12)
        resp = http.post(url, data={"newTokenName": f"{PREFIX}{role}-{suffix}",
                                    "expirationDuration": "2"}, auth=auth, timeout=30)
        resp.raise_for_status()
        data = resp.json()["data"]
        return {"suffix": suffix, "uuid": data["tokenUuid"], "name": data["tokenName"],
                "sha256": token_fingerprint(data["tokenValue"])}
    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, range(n)))
    finally:
        http.close()


def records_for(role: str, tokens: list[dict[str, str]], *, expires_at, issued_at=None,
                max_ttl: float = 86400.0, user: str = "ci-bot") -> list[LeaseRecord]:
    """Lease records for seeded tokens; ``expires_at`` is a time or ``f(index)``."""
    now = time.time()
    issued = now if issued_at is None else issued_at
    out = []
    for i, t in enumerate(tokens):
        expires = expires_at(i) if callable(expires_at) else expires_at
        out.append(LeaseRecord(
            role=role, suffix=t["suffix"], jenkins_user=user, strategy="user-token",
            credential=f"{user}-token", token_uuid=t["uuid"], token_name=t["name"],
            token_sha256=t["sha256"], issued_at=issued, expires_at=expires,
            max_expires_at=issued + max_ttl, requester=SEED_REQUESTER))
    return out


def write_records(store, records: list[LeaseRecord], threads: int = 8) -> list[int]:
    """Write each record (one KV v2 write each); return their versions."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(store.put_lease, records))


def delete_records(store, role: str, threads: int = 8) -> int:
    suffixes = store.list_leases(role)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda s: store.delete_lease(role, s), suffixes))
    return len(suffixes)


def seed_leases(stack: Stack, role: str, n: int, *, expires_at, threads: int = 16,
                user: str = "ci-bot") -> list[tuple[LeaseRecord, int]]:
    """``n`` tokens of ``user`` in Jenkins and their records in Vault (the role ``role`` is
    written too, so reconciliation knows it); returns ``(record, version)``."""
    if role not in stack.admin_store.list_roles():
        stack.role(role, user=user, ttl="2h", max_ttl="4h")
    tokens = mint_tokens(stack, role, n, threads=threads, user=user)
    records = records_for(role, tokens, expires_at=expires_at, user=user)
    versions = write_records(stack.admin_store, records, threads=max(4, threads // 2))
    return list(zip(records, versions))
