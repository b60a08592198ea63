"""Vault down must not flood the broker's log: the maintenance loop (shared rotation, sweeps,
credential checks, reconciliation) logged a full traceback every second while Vault was
unreachable. Now it is one warning line, repeated with backoff, and one line when it recovers."""

from __future__ import annotations

import logging
import threading
import time

from jenkins_broker.errors import VaultUnavailable
from jenkins_broker.server import services as service
from jenkins_broker.server.settings import BrokerSettings
from tests.fakes import Clock, FakeGateway, MemoryStore
from tests.support.roles import ci_bot_role
from tests.support.web import PolicyAuthorizer

DOWN = VaultUnavailable("Could not list at http://127.0.0.1:8200/v1/jenkins-broker/metadata/roles: "
                        "could not connect (cannot connect: Connection refused). Is Vault running "
                        "and is VAULT_ADDR right?")


def test_the_maintenance_loop_logs_vault_down_as_one_line_without_a_traceback(caplog):
    store = MemoryStore()
    store.put_role(ci_bot_role(shared=True, ttl=100))
    services = service.Services(store, FakeGateway(), PolicyAuthorizer({}), settings=BrokerSettings())

    def down():
        raise DOWN
    store.list_roles = down
    thread = threading.Thread(target=services._maintain, daemon=True)
    with caplog.at_level(logging.INFO, logger="jenkins_broker"):
        thread.start()
        time.sleep(3.5)
        del store.list_roles  # Vault is back
        deadline = time.monotonic() + 15
        while not any("works again" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "no recovery line within 15s"
            time.sleep(0.05)
        services._stopping.set()
        thread.join(10)
    assert not thread.is_alive()
    records = [r for r in caplog.records if r.name.startswith("jenkins_broker")]
    assert [r for r in records if r.exc_info or r.levelno >= logging.ERROR] == []
    failing = [r for r in records if r.levelno == logging.WARNING]
    # Failures at 0, 1, 3 s (retries back off 1, 2, 4 s): the first is logged, then the third.
    assert 1 <= len(failing) <= 2, [r.getMessage() for r in failing]
    first = failing[0].getMessage()
    assert first.startswith("maintenance (shared rotation, reconciliation, credential checks) failed, "
                            "retrying in 1s: Could not list at")
    assert first.endswith("Is Vault running and is VAULT_ADDR right?") and "\n" not in first
    recovered = [r.getMessage() for r in records if "works again" in r.getMessage()]
    assert len(recovered) == 1 and recovered[0].startswith(
        "maintenance (shared rotation, reconciliation, credential checks) works again after ")


def test_failure_log_backs_off_its_lines_and_its_retries():
    from jenkins_broker.server.runtime import FailureLog

    clock = Clock(now=0.0)
    logger = logging.getLogger("jenkins_broker.test.failurelog")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            assert record.exc_info is None
            lines.append(record.getMessage())
    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        failures = FailureLog(logger, "maintenance", retry_cap=10.0, log_cap=300.0, clock=clock)
        waits = []
        for _ in range(200):  # Vault down for a long while
            waits.append(failures.failed(DOWN))
            clock.advance(waits[-1])
        assert waits[:5] == [1.0, 2.0, 4.0, 8.0, 10.0] and set(waits[5:]) == {10.0}
        elapsed = clock() - 0.0
        # One line at once, then at doubling intervals (2, 4, ... s) up to every 5 minutes: about
        # fifteen over half an hour, not 200.
        assert 5 <= len(lines) <= 10 + elapsed / 300, lines
        assert lines[0] == f"maintenance failed, retrying in 1s: {DOWN}"
        assert lines[1].startswith("maintenance still failing (3 times since ") and "retrying in 4s" in lines[1]
        failures.succeeded()
        failures.succeeded()
        assert lines[-1].startswith("maintenance works again after 200 failures over ")
        assert sum("works again" in line for line in lines) == 1
        assert failures.failed(DOWN) == 1.0  # a new outage starts over
    finally:
        logger.removeHandler(handler)


def test_the_starting_app_answers_503_saying_why_then_hands_over():
    """What `serve` answers while it cannot log in to Vault yet (the end-to-end case, a
    sealed Vault, is in tests/integration/test_faults.py)."""
    import json

    from jenkins_broker.server.runtime import StartingApp

    def call(app):
        said = {}
        body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/sys/health"},
                            lambda status, headers: said.update(status=status, headers=dict(headers))))
        return said["status"], said["headers"], body

    front = StartingApp(clock=lambda: 0.0)
    status, headers, body = call(front)
    assert status.startswith("503") and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"errors": ["jenkins-broker is starting: it is logging in to Vault"]}
    front.failed(str(DOWN))
    front.failed("Vault said 503 for token 11" + "ab" * 16)  # a token-shaped value is masked
    (error,) = json.loads(call(front)[2])["errors"]
    assert error.startswith("jenkins-broker is starting: it cannot log in to Vault yet (tried 2 times since ")
    assert "<redacted>" in error and "ab" * 16 not in error and error.endswith("it keeps trying")
    assert headers["Content-Length"] == str(len(body)) and "Retry-After" in headers

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"broker"]
    front.ready(app)
    assert call(front)[:1] == ("200 OK",) and call(front)[2] == b"broker"
