"""The engine's periodic reconciliation (``rollback``), in process against the fake Jenkins:
tokens on the roles' users that the engine cannot account for are revoked (or reported),
whatever their name; leased tokens and the engine's own credential are not."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import pytest
import requests

from jenkins_broker.fakejenkins import FakeUser
from jenkins_broker.vaultplugin import minted as ledger
from jenkins_broker.vaultplugin.backend import JenkinsBackend
from jenkins_broker.vaultplugin.logical import BadRequest
from jenkins_broker.vaultplugin.path_config import load_config
from jenkins_broker.vaultplugin.storage import MemoryStorage, StorageError
from tests.fixtures.jenkins import token_url
from tests.support.engine import Engine


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def events(self, name):
        return [r.hclog for r in self.records if r.getMessage() == name]

    def text(self) -> str:
        return "\n".join(f"{r.getMessage()} {json.dumps(getattr(r, 'hclog', {}), default=str)}"
                         for r in self.records)


@pytest.fixture
def logged():
    return Records()


@pytest.fixture
def engine(logged):
    logger = logging.getLogger("tests.vaultplugin.periodic")
    logger.handlers[:] = [logged]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    backend = JenkinsBackend(logger=logger)
    storage = MemoryStorage()
    backend.initialize(storage)  # OpenBao's Initialize at `secrets enable`: a new mount
    yield Engine(backend, storage)
    backend.cleanup()


def works(fake, user, token) -> bool:
    return requests.get(fake.url + "whoAmI/api/json", auth=(user, token), timeout=10).status_code == 200


def generate(fake, user, token, name) -> tuple[str, str]:
    """What a holder does with its leased token: generateNewToken on its own user."""
    answer = requests.post(token_url(fake, user, "generateNewToken"), auth=(user, token),
                           data={"newTokenName": name}, timeout=10)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    return data["tokenUuid"], data["tokenValue"]


def periodic(engine: Engine) -> None:
    """One run of the periodic function, as OpenBao's rollback request starts it."""
    assert engine.call("rollback", "") is None


@pytest.fixture
def rotated(configured, fake_jenkins, bot_token, logged):
    """ci-bot's credential replaced by rotate-root, so the engine knows its uuid, and one run
    done: it revoked the bootstrap token, the hand-written credential rotate-root replaced."""
    configured.call("update", "rotate-root")
    periodic(configured)
    assert not works(fake_jenkins, "ci-bot", bot_token)
    logged.records.clear()
    return configured


def root_secret(engine: Engine) -> str:
    config = load_config(engine.storage)
    assert config is not None
    return config.credential.secret


# -- the hole -----------------------------------------------------------------------------------

def test_a_token_made_with_a_leased_token_is_revoked(rotated, fake_jenkins, logged):
    lease = rotated.call("read", "creds/ci-bot").data
    uuid, foreign = generate(fake_jenkins, "ci-bot", lease["token"], "my own forever token")
    assert works(fake_jenkins, "ci-bot", foreign)
    periodic(rotated)
    assert not works(fake_jenkins, "ci-bot", foreign)
    assert works(fake_jenkins, "ci-bot", lease["token"]) and works(fake_jenkins, "ci-bot", root_secret(rotated))
    [line] = logged.events("foreign-token-revoked")
    assert line["token_uuid"] == uuid and line["token_name"] == "my own forever token"
    assert line["jenkins_user"] == "ci-bot" and line["role"] == "ci-bot" and line["created"]
    for secret in (foreign, lease["token"], root_secret(rotated)):
        assert secret not in logged.text()


def test_forged_names_save_nothing(rotated, fake_jenkins, logged):
    lease = rotated.call("read", "creds/ci-bot").data
    forged = {
        "copy": generate(fake_jenkins, "ci-bot", lease["token"], lease["token_name"]),
        "far": generate(fake_jenkins, "ci-bot", lease["token"], "vault-jenkins-ci-bot-99999999999-deadbeef"),
        "root": generate(fake_jenkins, "ci-bot", lease["token"], "vault-jenkins-root-1796086908-6bb4bf35"),
    }
    periodic(rotated)
    for what, (_, value) in forged.items():
        assert not works(fake_jenkins, "ci-bot", value), what
    assert works(fake_jenkins, "ci-bot", lease["token"]) and works(fake_jenkins, "ci-bot", root_secret(rotated))
    assert {line["token_uuid"] for line in logged.events("foreign-token-revoked")} == \
        {uuid for uuid, _ in forged.values()}


def test_every_role_user_is_reconciled_with_its_role_strategy(engine, fake_jenkins):
    engine.call("update", "config", {"url": fake_jenkins.url, "username": "admin", "password": "adminpw"})
    engine.call("create", "roles/other", {"jenkins_user": "other", "strategy": "admin-script"})
    lease = engine.call("read", "creds/other").data
    _, foreign = generate(fake_jenkins, "other", lease["token"], "keep me")
    _, admins_own = fake_jenkins.add_token("admin", "a person's token")  # no role names admin
    periodic(engine)
    assert not works(fake_jenkins, "other", foreign) and works(fake_jenkins, "other", lease["token"])
    assert works(fake_jenkins, "admin", admins_own)


# -- what the engine accounts for -----------------------------------------------------------------

def test_the_ledger_follows_mint_and_revoke(configured):
    response = configured.call("read", "creds/ci-bot")
    entries = ledger.load_all(configured.storage)
    uuid = response.secret.internal_data["token_uuid"]
    assert set(entries) == {uuid}
    entry = entries[uuid]
    assert entry.user == "ci-bot" and entry.role == "ci-bot" and entry.name == response.data["token_name"]
    assert abs(entry.deadline - (entry.minted_at + 3600)) < 1
    assert response.data["token"] not in repr(configured.storage.entries)
    configured.revoke(response)
    assert ledger.load_all(configured.storage) == {}


def test_a_mint_that_cannot_be_recorded_is_revoked_and_fails(configured, fake_jenkins, monkeypatch):
    before = {t["uuid"] for t in fake_jenkins.tokens("ci-bot")}

    def broken(storage, entry):
        raise StorageError("OpenBao storage Put failed: sealed")
    monkeypatch.setattr(ledger, "record", broken)
    with pytest.raises(Exception, match="could not record token") as failed:
        configured.call("read", "creds/ci-bot")
    assert getattr(failed.value, "status", None) == 500
    assert {t["uuid"] for t in fake_jenkins.tokens("ci-bot")} == before


def test_a_mint_in_flight_is_spared_then_not(rotated, fake_jenkins):
    name = "vault-jenkins-ci-bot-1796090507-0123abcd"
    with rotated.backend.in_flight.minting("ci-bot", name):
        _, value = fake_jenkins.add_token("ci-bot", name)
        periodic(rotated)
        assert works(fake_jenkins, "ci-bot", value)
    periodic(rotated)  # never recorded: no lease was handed out with it
    assert not works(fake_jenkins, "ci-bot", value)


def test_a_run_between_jenkins_minting_and_the_ledger_spares_the_token(rotated, fake_jenkins, monkeypatch):
    strategy = rotated.backend.strategy(rotated.storage, "user-token", "root")
    mint, seen = strategy.mint, {}

    def mint_then_run(**kwargs):
        minted = mint(**kwargs)
        seen["why"] = rotated.backend.reconciler.run(rotated.storage).accounted.get(minted.uuid)
        return minted
    monkeypatch.setattr(strategy, "mint", mint_then_run)
    lease = rotated.call("read", "creds/ci-bot").data
    assert seen["why"] == "being minted now" and works(fake_jenkins, "ci-bot", lease["token"])


def test_a_run_during_rotate_root_spares_the_new_credential(rotated, fake_jenkins, monkeypatch):
    client = rotated.backend.client(rotated.storage)
    generate_new_token, seen = client.generate_new_token, {}

    def generate_then_run(*args):
        made = generate_new_token(*args)
        seen["why"] = rotated.backend.reconciler.run(rotated.storage).accounted.get(made["tokenUuid"])
        return made
    monkeypatch.setattr(client, "generate_new_token", generate_then_run)
    rotated.call("update", "rotate-root")
    assert seen["why"] == "being minted now"
    assert works(fake_jenkins, "ci-bot", root_secret(rotated))


def test_a_rotation_finished_during_a_listing_keeps_the_new_credential(rotated, fake_jenkins, monkeypatch):
    from dataclasses import replace

    from jenkins_broker.vaultplugin.path_config import save_config

    strategy = rotated.backend.strategy(rotated.storage, "user-token", "root")
    listing = strategy.list_tokens
    made = {}

    def rotate_then_list(user):
        # what rotate-root does, without revoking the previous token: the new one is in
        # Jenkins and the config names it by the time the listing answers
        made["uuid"], made["value"] = fake_jenkins.add_token("ci-bot", "vault-jenkins-root-1-0a0b0c0d")
        config = load_config(rotated.storage)
        save_config(rotated.storage, replace(config, managed_uuid=made["uuid"],
                                             credential=replace(config.credential, secret=made["value"])))
        return listing(user)
    monkeypatch.setattr(strategy, "list_tokens", rotate_then_list)
    periodic(rotated)
    assert works(fake_jenkins, "ci-bot", made["value"])


def test_a_recorded_token_past_its_deadline_is_revoked(rotated, fake_jenkins, logged):
    response = rotated.call("read", "creds/ci-bot")
    uuid = response.secret.internal_data["token_uuid"]
    deadline = ledger.load_all(rotated.storage)[uuid].deadline
    rotated.backend.reconciler.run(rotated.storage, now=deadline - 5)
    assert works(fake_jenkins, "ci-bot", response.data["token"])
    outcome = rotated.backend.reconciler.run(rotated.storage, now=deadline + 120)
    assert outcome.revoked == [uuid] and not works(fake_jenkins, "ci-bot", response.data["token"])
    assert "lease ended" in logged.events("foreign-token-revoked")[0]["reason"]
    assert ledger.load_all(rotated.storage) == {}


def test_the_legacy_token_is_kept_only_for_a_legacy_role(make_fake_jenkins):
    fake = make_fake_jenkins(users=[FakeUser("admin", "adminpw", admin=True),
                                    FakeUser("ci-bot", "botpw", legacy_token=True)])
    backend = JenkinsBackend()
    engine = Engine(backend, MemoryStorage())
    try:
        engine.call("update", "config", {"url": fake.url, "username": "admin", "password": "adminpw"})
        engine.call("create", "roles/old", {"jenkins_user": "ci-bot", "strategy": "legacy"})
        legacy = fake.legacy_token("ci-bot")
        periodic(engine)
        assert works(fake, "ci-bot", legacy)
        engine.call("delete", "roles/old")
        engine.call("create", "roles/new", {"jenkins_user": "ci-bot", "strategy": "admin-rest"})
        periodic(engine)
        assert not works(fake, "ci-bot", legacy)
    finally:
        backend.cleanup()


# -- report, and the credential written by hand ---------------------------------------------------

def test_report_leaves_the_token_and_says_so_once(rotated, fake_jenkins, logged):
    rotated.call("update", "roles/ci-bot", {"foreign_tokens": "report"})
    uuid, value = fake_jenkins.add_token("ci-bot", "a person's token")
    periodic(rotated)
    periodic(rotated)
    assert works(fake_jenkins, "ci-bot", value)
    [line] = logged.events("foreign-token-found")
    assert line["token_uuid"] == uuid and "foreign_tokens=report" in line["not_revoked_because"]
    assert not logged.events("foreign-token-revoked")


def test_one_reporting_role_is_enough_for_its_user(rotated, fake_jenkins):
    rotated.call("create", "roles/by-hand", {"jenkins_user": "ci-bot", "strategy": "user-token",
                                            "foreign_tokens": "report"})
    _, value = fake_jenkins.add_token("ci-bot", "a person's token")
    periodic(rotated)
    assert works(fake_jenkins, "ci-bot", value)


def test_a_credential_written_by_hand_is_never_revoked(configured, fake_jenkins, bot_token, logged):
    lease = configured.call("read", "creds/ci-bot").data
    uuid, foreign = generate(fake_jenkins, "ci-bot", lease["token"], "my own")
    periodic(configured)
    periodic(configured)
    assert works(fake_jenkins, "ci-bot", bot_token) and works(fake_jenkins, "ci-bot", foreign)
    found = {line["token_uuid"]: line for line in logged.events("foreign-token-found")}
    assert uuid in found and "rotate-root" in found[uuid]["not_revoked_because"]
    assert sum("enable revocation" in r.getMessage() for r in logged.records) == 1
    configured.call("update", "rotate-root")
    periodic(configured)
    assert not works(fake_jenkins, "ci-bot", foreign) and not works(fake_jenkins, "ci-bot", bot_token)
    assert works(fake_jenkins, "ci-bot", lease["token"]) and works(fake_jenkins, "ci-bot", root_secret(configured))


# -- migration: tokens from before the ledger -------------------------------------------------------

def test_on_a_new_mount_no_name_is_spared_even_before_the_first_run(configured, fake_jenkins):
    configured.call("update", "rotate-root")
    lease = configured.call("read", "creds/ci-bot").data
    _, copied = generate(fake_jenkins, "ci-bot", lease["token"], lease["token_name"])
    periodic(configured)  # the first run ever
    assert not works(fake_jenkins, "ci-bot", copied) and works(fake_jenkins, "ci-bot", lease["token"])


def test_tokens_from_before_the_ledger_live_until_their_deadline(configured, fake_jenkins):
    rotated = configured
    rotated.call("update", "rotate-root")
    now = time.time()
    old_uuid, old = fake_jenkins.add_token("ci-bot", f"vault-jenkins-ci-bot-{int(now) + 1800}-0a0b0c0d")
    _, far = fake_jenkins.add_token("ci-bot", f"vault-jenkins-ci-bot-{int(now) + 30 * 86400}-0a0b0c0d")
    # The mount was made by a version without the ledger; the new one starts (OpenBao's Initialize).
    rotated.storage.delete("reconcile/migration")
    rotated.backend.initialize(rotated.storage, now=now)
    rotated.backend.reconciler.run(rotated.storage, now=now)  # the first run
    assert works(fake_jenkins, "ci-bot", old) and not works(fake_jenkins, "ci-bot", far)
    _, late = fake_jenkins.add_token("ci-bot", f"vault-jenkins-ci-bot-{int(now) + 1800}-1a1b1c1d")
    rotated.backend.reconciler.run(rotated.storage, now=now + 60)
    assert works(fake_jenkins, "ci-bot", old) and not works(fake_jenkins, "ci-bot", late)
    outcome = rotated.backend.reconciler.run(rotated.storage, now=now + 1801)
    assert outcome.revoked == [old_uuid] and not works(fake_jenkins, "ci-bot", old)
    assert json.loads(rotated.storage.get("reconcile/migration")) == {
        "since": now, "until": now + 3600, "pending": [], "kept": {}}


# -- faults -----------------------------------------------------------------------------------------

def test_nothing_is_revoked_when_the_ledger_cannot_be_read(rotated, fake_jenkins, monkeypatch):
    lease = rotated.call("read", "creds/ci-bot").data

    def broken(storage):
        raise StorageError("OpenBao storage List failed")
    monkeypatch.setattr(ledger, "load_all", broken)
    periodic(rotated)
    assert works(fake_jenkins, "ci-bot", lease["token"])


def test_jenkins_down_is_logged_not_raised(rotated, fake_jenkins, logged):
    fake_jenkins.set_fault("refuse")
    try:
        outcome = rotated.backend.reconciler.run(rotated.storage, now=time.time())
    finally:
        fake_jenkins.set_fault(None)
    assert outcome.unlisted == ["ci-bot"] and outcome.revoked == []
    assert any("could not list the tokens of Jenkins user ci-bot" in r.getMessage() for r in logged.records)


def test_without_config_a_run_does_nothing(engine):
    assert engine.backend.reconciler.run(engine.storage).listed == []


# -- the role field and the wiring --------------------------------------------------------------------

def test_foreign_tokens_role_field(engine):
    engine.call("create", "roles/r", {"jenkins_user": "x", "strategy": "user-token"})
    assert engine.call("read", "roles/r").data["foreign_tokens"] == "revoke"
    engine.call("update", "roles/r", {"foreign_tokens": "report"})
    engine.call("update", "roles/r", {"ttl": "5m"})
    assert engine.call("read", "roles/r").data["foreign_tokens"] == "report"
    for bad in ("ignore", "", 1, "Report"):
        with pytest.raises(BadRequest, match="foreign_tokens: must be revoke"):
            engine.call("update", "roles/r", {"foreign_tokens": bad})
    assert "foreign_tokens" in engine.call("help", "roles/r").data["help"]
    # Suspension is broker mode's: refused here, and not shown.
    with pytest.raises(BadRequest, match="disabled: unknown field"):
        engine.call("update", "roles/r", {"disabled": True})
    assert "disabled" not in engine.call("read", "roles/r").data


def test_the_rollback_rpc_runs_the_periodic_function(rotated, fake_jenkins):
    from jenkins_broker.vaultplugin.grpcbackend import BackendService
    from jenkins_broker.vaultplugin.proto import backend_pb2 as pb

    lease = rotated.call("read", "creds/ci-bot").data
    _, foreign = generate(fake_jenkins, "ci-bot", lease["token"], "my own")

    class Stream:
        sent = None

        async def recv_message(self):
            return pb.HandleRequestArgs(request=pb.Request(operation="rollback", path=""))

        async def send_message(self, message):
            Stream.sent = message

    service = BackendService(rotated.backend, broker=None)
    service._storage = rotated.storage
    try:
        asyncio.run(service.HandleRequest(Stream()))
    finally:
        service.close()
    assert not Stream.sent.HasField("err")
    assert not works(fake_jenkins, "ci-bot", foreign) and works(fake_jenkins, "ci-bot", lease["token"])


def test_hclog_lines_carry_the_fields_redacted():
    from jenkins_broker.vaultplugin.stdio import HclogHandler

    out = io.StringIO()
    record = logging.LogRecord("jenkins_broker.vaultplugin", logging.INFO, __file__, 1, "foreign-token-revoked",
                               None, None)
    record.hclog = {"token_uuid": "u-1", "token_name": "11" + "ab" * 16, "legacy": False, "@level": "x"}
    HclogHandler(out).emit(record)
    line = json.loads(out.getvalue())
    assert line["@message"] == "foreign-token-revoked" and line["@level"] == "info"
    assert line["token_uuid"] == "u-1" and line["token_name"] == "<redacted>" and line["legacy"] is False
