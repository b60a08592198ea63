"""The fault suite: every minted token is revoked, whatever fails (issue 5, cases 1 to 5).

Real OpenBao (persistent mode, so it can be stopped and restarted), the fake
Jenkins with its faults, and brokers in-process or as killed processes. Every
case ends with an audit: the tokens in Jenkins whose names carry the broker's
prefix are exactly the live leases, and no expired lease is left.
"""

from __future__ import annotations

import re
import signal
import threading
import time

import pytest
import requests

from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from jenkins_broker.vault import BaoDevServer
from tests.support import stop_process, wait_for
from tests.support.stack import running_stack, spawn_broker

pytestmark = pytest.mark.integration

PREFIX = "jenkins-broker-"
FAST = dict(resync_interval=1, reconcile_interval=1, orphan_grace=1, retry_base=0.2, retry_cap=1,
            claim_timeout=1)


@pytest.fixture(scope="module")
def fstack():
    jenkins = FakeJenkins([FakeUser("admin", "adminpw", admin=True), FakeUser("ci-bot", "botpw")],
                          version="2.555.1")
    with running_stack(BaoDevServer(mode="persistent"), jenkins, FAST, timeout=1.5,
                       passwords={"ci-bot-password": ("ci-bot", "botpw")}) as st:
        yield st


@pytest.fixture(autouse=True)
def _healthy_again(fstack):
    """Each case starts and ends with Jenkins answering and Vault unsealed."""
    yield
    fstack.jenkins.set_fault(None)
    fstack.jenkins.latency = 0.0
    if requests.get(f"{fstack.bao.addr}/v1/sys/health", timeout=5).json().get("sealed"):
        fstack.bao.unseal()


def broker_tokens(st):
    return {t["name"] for t in st.jenkins.tokens("ci-bot") if t["name"].startswith(PREFIX)}


def live_leases(st):
    store = st.admin_store
    return [rec for role in store.list_lease_roles()
            for rec, _ in store.get_leases((role, s) for s in store.list_leases(role))]


def audit(st, timeout=15.0):
    """Jenkins' broker tokens are exactly the live leases, and no lease is past its end."""
    def consistent():
        leases = live_leases(st)
        now = time.time()
        return broker_tokens(st) == {r.token_name for r in leases} and all(
            r.expires_at > now - 1.0 for r in leases)
    wait_for(consistent, timeout=timeout, interval=0.2, what="Jenkins to match the live leases")


def whoami(st, token):
    return requests.get(f"{st.jenkins.url}whoAmI/api/json", auth=("ci-bot", token), timeout=5).status_code


# -- 1. Jenkins failing at mint ---------------------------------------------------------

@pytest.mark.parametrize("fault,status", [("refuse", 503), ("hang", 504), ("error500", 502),
                                          ("reset", 503)])
def test_jenkins_fault_at_mint_leaves_nothing(fstack, fault, status):
    role = fstack.role(f"mintfault-{fault}", ttl=30)
    ci = fstack.consumer(role)
    fstack.jenkins.set_fault(fault)
    resp = fstack.mint(role, ci)
    assert resp.status_code == status, resp.text
    assert list(resp.json()) == ["errors"]
    assert fstack.admin_store.list_leases(role) == []
    fstack.jenkins.set_fault(None)  # a hung generateNewToken now completes inside Jenkins...
    audit(fstack)                   # ...and the broker finds that token by its name and revokes it


# -- 2. Jenkins down or restarting while tokens expire ---------------------------------------

def test_jenkins_down_while_tokens_expire_then_everything_is_revoked(fstack):
    role = fstack.role("down-expiry", ttl=2)
    ci = fstack.consumer(role)
    tokens = [fstack.mint(role, ci).json()["data"]["token"] for _ in range(5)]
    fstack.jenkins.set_fault("refuse")
    store = fstack.admin_store
    # Past expiry the records stay, each failing and backing off.
    wait_for(lambda: all(r.revoke_attempts >= 2 for r in live_leases(fstack) if r.role == role)
             and len([r for r in live_leases(fstack) if r.role == role]) == 5,
             timeout=20, what="failed revocations recorded")
    metrics = requests.get(f"{fstack.broker_url}/metrics", headers={"X-Vault-Token": fstack.bao.root_token}, timeout=5).text
    assert "jenkins_broker_revocations_pending_retry 5.0" in metrics
    assert 'jenkins_broker_revocation_failures_total{reason="JenkinsConnectionError",role="down-expiry"}' \
        in metrics
    fstack.jenkins.set_fault(None)
    wait_for(lambda: store.list_leases(role) == [], timeout=15, what="revocations after recovery")
    assert all(whoami(fstack, t) == 401 for t in tokens)
    audit(fstack)


def test_jenkins_restart_drops_sessions_and_crumbs_nothing_is_lost(fstack):
    role = fstack.role("restarting", ttl=2, strategy="user-password", credential="ci-bot-password")
    ci = fstack.consumer(role)
    first = fstack.mint(role, ci).json()["data"]["token"]
    fstack.jenkins.restart()  # the broker's session cookie and crumb are now stale
    second = fstack.mint(role, ci).json()["data"]["token"]
    assert whoami(fstack, first) == 200 and whoami(fstack, second) == 200
    fstack.jenkins.restart()
    wait_for(lambda: fstack.admin_store.list_leases(role) == [], timeout=15, what="expiry")
    assert whoami(fstack, first) == 401 and whoami(fstack, second) == 401
    audit(fstack)


# -- 3. Vault sealed, down, or refusing the broker's token at mint --------------------------

def test_vault_sealed_at_mint_is_503_and_mints_nothing(fstack):
    role = fstack.role("sealed", ttl=30)
    ci = fstack.consumer(role)
    before = broker_tokens(fstack)
    fstack.bao.seal()
    resp = fstack.mint(role, ci)
    assert resp.status_code == 503 and list(resp.json()) == ["errors"]
    assert broker_tokens(fstack) == before
    fstack.bao.unseal()
    assert fstack.mint(role, ci).status_code == 200
    audit(fstack)


def test_vault_down_at_mint_is_503_and_mints_nothing(fstack):
    role = fstack.role("vault-down", ttl=30)
    ci = fstack.consumer(role)
    before = broker_tokens(fstack)
    fstack.bao.kill()
    try:
        resp = fstack.mint(role, ci)
        assert resp.status_code == 503 and list(resp.json()) == ["errors"]
        assert broker_tokens(fstack) == before
    finally:
        fstack.bao.restart()
    wait_for(lambda: fstack.mint(role, ci).status_code == 200, timeout=20, what="recovery")
    audit(fstack)


@pytest.fixture
def broker_processes_only(fstack):
    """The stack's in-process broker stopped for the test (a fresh one started after), so
    that the Vault outage a test makes for its broker processes leaves no retry of the
    in-process one's running into the next test."""
    fstack.stop_broker()
    try:
        yield fstack
    finally:
        if requests.get(f"{fstack.bao.addr}/v1/sys/health", timeout=5).json().get("sealed"):
            fstack.bao.unseal()
        fstack.start_broker(**FAST)


def test_a_broker_started_while_vault_is_sealed_waits_for_it_then_serves(broker_processes_only, tmp_path):
    """A pod started during a Vault outage used to exit at once (it logs in first) and wait
    in a crash loop's back-off; now it listens, answers 503 in Vault's shape, tries again,
    and serves as soon as Vault is unsealed."""
    fstack = broker_processes_only
    role = fstack.role("sealed-at-start", ttl=30)
    ci = fstack.consumer(role)
    fstack.bao.seal()
    proc, url = spawn_broker(fstack, tmp_path, FAST, ready=False)
    try:
        def mint_refused():
            resp = requests.get(f"{url}/v1/jenkins/creds/{role}", headers={"X-Vault-Token": ci}, timeout=5)
            assert resp.status_code == 503, resp.text
            (error,) = resp.json()["errors"]
            assert error.startswith("jenkins-broker is starting: "), error
            return error if "cannot log in" in error else None
        error = wait_for(mint_refused, timeout=10, what="the broker to say why it cannot start")
        assert "cannot log in to Vault yet (tried once; last: " in error and "Vault is sealed" in error
        assert requests.get(f"{url}/v1/sys/health", timeout=5).status_code == 503

        def tries():
            said = requests.get(f"{url}/v1/sys/health", timeout=5).json()["errors"][0]
            return int(re.search(r"tried (\d+) times", said)[1]) if "times" in said else 1
        wait_for(lambda: tries() >= 3, timeout=20, what="three attempts to log in")
        assert proc.poll() is None
        log_path = tmp_path / f"broker-{url.rsplit(':', 1)[1]}.log"
        text = log_path.read_text()
        # Lines at doubling intervals, as a background loop logs a failure that repeats.
        assert "Traceback" not in text and 1 <= text.count("WARNING") < tries(), text
        fstack.bao.unseal()
        wait_for(lambda: requests.get(f"{url}/v1/jenkins/creds/{role}", headers={"X-Vault-Token": ci},
                                      timeout=5).status_code == 200, timeout=30, what="a mint once unsealed")
        assert "works again" in log_path.read_text()
    finally:
        stop_process(proc)
    assert proc.returncode in (0, -signal.SIGTERM)
    audit(fstack)


def test_a_broker_waiting_for_vault_stops_at_once_on_sigterm(broker_processes_only, tmp_path):
    fstack = broker_processes_only
    fstack.bao.seal()
    proc, url = spawn_broker(fstack, tmp_path, FAST, ready=False)
    try:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert time.monotonic() - started < 5
    finally:
        stop_process(proc)
    assert proc.returncode == 0


def test_record_write_failing_after_the_jenkins_call_revokes_the_token(fstack, monkeypatch):
    """Vault dies between the caller's authorization and the record write: the token is
    taken back at once (simulated on the broker's store, with the fake Jenkins over HTTP)."""
    from jenkins_broker.errors import VaultUnavailable
    role = fstack.role("write-fails", ttl=30)
    ci = fstack.consumer(role)
    store = fstack.services.store

    def broken(record, cas=None):
        raise VaultUnavailable("Vault went away (test)")
    monkeypatch.setattr(store, "put_lease", broken)
    resp = fstack.mint(role, ci)
    assert resp.status_code == 503
    monkeypatch.undo()
    assert not any(n.startswith(f"{PREFIX}{role}-") for n in broker_tokens(fstack))
    audit(fstack)


def test_vault_refusing_the_brokers_token_is_503_then_it_logs_in_again(fstack):
    role = fstack.role("refused", ttl=30)
    ci = fstack.consumer(role)
    client = fstack.services.store.client
    accessor = client.request("GET", "auth/token/lookup-self", action="look up")["data"]["accessor"]
    fstack.bao.client().auth.token.revoke_accessor(accessor)
    resp = fstack.mint(role, ci)
    assert resp.status_code == 503 and "errors" in resp.json()
    assert not any(n.startswith(f"{PREFIX}{role}-") for n in broker_tokens(fstack))
    # The refusal wakes the renewer, which logs in again with the AppRole.
    wait_for(lambda: fstack.mint(role, ci).status_code == 200, timeout=15, what="a new login")
    assert client.request("GET", "auth/token/lookup-self", action="look up")["data"]["accessor"] != accessor
    audit(fstack)


# -- 4. The broker killed at each step of a mint and of a revocation -------------------------

@pytest.mark.parametrize("point", ["mint:after-jenkins", "mint:after-record"])
def test_killed_during_a_mint_nothing_is_lost(fstack, tmp_path, point):
    fstack.stop_broker()  # only the crashing process and its successor touch these leases
    try:
        role = fstack.role(f"crash-{point.split(':')[1]}", ttl=3)
        ci = fstack.consumer(role)
        proc, url = spawn_broker(fstack, tmp_path, FAST, crash_at=point)
        try:
            with pytest.raises(requests.ConnectionError):
                requests.get(f"{url}/v1/jenkins/creds/{role}", headers={"X-Vault-Token": ci}, timeout=15)
            assert proc.wait(10) == -signal.SIGKILL
            made = [n for n in broker_tokens(fstack) if n.startswith(f"{PREFIX}{role}-")]
            assert len(made) == 1  # the token exists in Jenkins; the caller never got it
            assert len(fstack.admin_store.list_leases(role)) == (1 if point == "mint:after-record" else 0)
        finally:
            stop_process(proc, 15)
        successor, _ = spawn_broker(fstack, tmp_path, FAST)
        try:
            # The orphan is found by its prefix; a recorded one is reaped at its expiry.
            wait_for(lambda: not any(n.startswith(f"{PREFIX}{role}-") for n in broker_tokens(fstack)),
                     timeout=20, what="the token of the crashed mint to be revoked")
            audit(fstack)
        finally:
            stop_process(successor, 15)
    finally:
        fstack.start_broker(**FAST)


@pytest.mark.parametrize("point", ["revoke:after-claim", "revoke:after-jenkins"])
def test_killed_during_a_revocation_nothing_is_lost(fstack, tmp_path, point):
    fstack.stop_broker()
    try:
        role = fstack.role(f"crash-{point.replace(':', '-')}", ttl=2)
        ci = fstack.consumer(role)
        proc, url = spawn_broker(fstack, tmp_path, FAST, crash_at=point)
        try:
            token = requests.get(f"{url}/v1/jenkins/creds/{role}", headers={"X-Vault-Token": ci},
                                 timeout=15).json()["data"]["token"]
            assert proc.wait(20) == -signal.SIGKILL  # died while reaping at expiry
            assert fstack.admin_store.list_leases(role) != []
        finally:
            stop_process(proc, 15)
        successor, _ = spawn_broker(fstack, tmp_path, FAST)
        try:
            wait_for(lambda: fstack.admin_store.list_leases(role) == [], timeout=20,
                     what="the successor to finish the revocation")
            assert whoami(fstack, token) == 401
            audit(fstack)
        finally:
            stop_process(successor, 15)
    finally:
        fstack.start_broker(**FAST)


# -- 5. Two brokers on one Vault ----------------------------------------------------------

def test_two_brokers_share_one_vault(fstack):
    with fstack.replica(**FAST) as (other, other_url):
        role = fstack.role("replicas", ttl=2)
        shared = fstack.role("replicas-shared", ttl=4, shared=True)
        ci = fstack.consumer(role)
        revokes_before = sum(1 for r in fstack.jenkins.request_log if r["path"].endswith("/revoke"))
        statuses, minted = [], []

        def client(base, n):
            for _ in range(n):
                resp = requests.get(f"{base}/v1/jenkins/creds/{role}", headers={"X-Vault-Token": ci},
                                    timeout=15)
                statuses.append(resp.status_code)
                minted.append(resp.json().get("lease_id"))
        threads = [threading.Thread(target=client, args=(base, 10))
                   for base in (fstack.broker_url, other_url) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200] * 60 and len(set(minted)) == 60
        started = time.time()
        wait_for(lambda: fstack.admin_store.list_leases(role) == [], timeout=20, what="all reaped")
        revokes = sum(1 for r in fstack.jenkins.request_log if r["path"].endswith("/revoke")) - revokes_before
        # Each lease revoked exactly once between the two replicas (shared rotations may add their own).
        rotation_revokes = revokes - 60
        assert 0 <= rotation_revokes <= 6, revokes
        failures = [m for s in (fstack.services, other) for m in s.metrics.registry.collect()
                    if m.name == "jenkins_broker_revocation_failures"]
        assert all(sample.value == 0 for m in failures for sample in m.samples)
        # Shared rotation: once per period (2s) between both replicas, not twice.
        wait_for(lambda: time.time() - started > 6, timeout=10, what="three rotation periods")
        rotations = sum(sample.value for s in (fstack.services, other)
                        for m in s.metrics.registry.collect() if m.name == "jenkins_broker_rotations"
                        for sample in m.samples if sample.labels.get("role") == shared)
        elapsed = time.time() - started
        assert rotations <= elapsed / 2 + 3, (rotations, elapsed)
        fstack.admin_store.delete_role(shared)
        audit(fstack, timeout=20)
