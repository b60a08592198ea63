"""The audit trail: one JSON line per event, with the fields that let an auditor join logs."""

import json
import logging

import pytest

from jenkins_broker.domain.records import Requester, token_fingerprint
from jenkins_broker.domain.shared_mode import SharedRotator
from jenkins_broker.errors import JenkinsConnectionError
from jenkins_broker.observability import AUDIT_LOGGER
from tests.support.world import build_world

STANDARD = {"role", "lease_id", "jenkins_user", "token_uuid", "token_name", "token_sha256", "requester"}


@pytest.fixture
def trail(caplog):
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)

    def lines():
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]
    return lines


def test_every_lifecycle_event_is_one_json_line_with_the_standard_fields(trail):
    built = build_world(role={"ttl": 60, "shared": True}, backoff_cap=4, reaper=True)
    manager, reaper, store, gateway, clock = (built.manager, built.reaper, built.store,
                                              built.gateway, built.clock)
    alice = Requester("acc-a", "ent-a", "alice")
    record, value = manager.mint("ci-bot", requester=alice)
    manager.renew(record.lease_id, 30)
    SharedRotator(manager, store, clock=clock).tick()
    gateway.fail_revoke = True
    with pytest.raises(JenkinsConnectionError):
        manager.revoke(record.lease_id, actor=Requester("acc-s", "ent-s", "security"))
    gateway.fail_revoke = False
    clock.advance(120)
    reaper.run_once()
    gateway.fail_mint = True
    with pytest.raises(JenkinsConnectionError):
        manager.mint("ci-bot", requester=alice)
    reaper.stop()

    events = trail()
    kinds = [e["event"] for e in events]
    assert kinds[:3] == ["mint", "renew", "mint"] and "rotate" in kinds
    assert {"revoke-failed", "revoke", "mint-failed"} <= set(kinds)
    for event in events:
        if event["event"] in ("mint", "renew", "rotate", "revoke", "revoke-failed"):
            assert STANDARD <= set(event), event
    first = [e for e in events if e.get("lease_id") == record.lease_id]
    assert all(e["token_sha256"] == token_fingerprint(value) for e in first)
    assert first[0]["requester"] == {"accessor": "acc-a", "entity_id": "ent-a", "display_name": "alice"}
    failed = next(e for e in events if e["event"] == "revoke-failed")
    assert failed["attempts"] == 1 and "refused" in failed["error"]
    # The reaper's retry of an asked-for revocation keeps the reason it was asked for.
    revoked = next(e for e in events if e["event"] == "revoke" and e["lease_id"] == record.lease_id)
    assert revoked["reason"] == "request" and "lag_seconds" not in revoked
    expired = next(e for e in events if e["event"] == "revoke" and e["lease_id"] != record.lease_id)
    assert expired["reason"] == "expiry" and "lag_seconds" in expired
    text = json.dumps(events)
    assert value not in text and value[2:] not in text
    assert all(live.value not in text for live in gateway.live.values())


def test_fields_outside_the_schema_are_dropped(trail):
    from jenkins_broker.observability import audit
    audit("mint", role="r", token="11" + "a" * 32, value="secret")
    assert trail() == [{"event": "mint", "role": "r", "time": trail()[0]["time"]}]


def test_metrics_leave_out_created_series_without_changing_prometheus_client_for_the_process():
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    from jenkins_broker.observability import Metrics
    metrics = Metrics()
    metrics.mints.labels("r").inc()
    ours = generate_latest(metrics.registry).decode()
    assert 'jenkins_broker_mints_total{role="r"} 1.0' in ours and "_created" not in ours
    # Another library's registry in the same process keeps its own behaviour.
    theirs = CollectorRegistry()
    Counter("their_events", "theirs", registry=theirs).inc()
    assert "their_events_created" in generate_latest(theirs).decode()
