"""Every script of jenkins/scripts.py, run for real in the fake's Groovy, through the
``admin-script`` strategy end to end on each version line the fake emulates: mint, log in
with the token, list, revoke, log in no more, list again, revoke again (idempotent).

The lines: 2.129 (the token system, MD5 crumbs), 2.176.1 (crumbs without sessions),
2.204.6 (script console under RunScripts), 2.263.1 (the scripting methods), 2.504 (old
markup), 2.541.3 (no expiry), 2.555.1 (expiry); and 2.107.3, where there is no token
store, so every script fails (docs/jenkins-behaviour.md §4.10, §13). Needs Groovy
(skipped without it).
"""

from __future__ import annotations

import datetime as dt

import pytest

from jenkins_broker import errors
from jenkins_broker.jenkins import Credential, JenkinsClient, make_strategy
from jenkins_broker.jenkins.scripts import OPERATIONS

LINES = ["2.129", "2.176.1", "2.204.6", "2.263.1", "2.504", "2.541.3", "2.555.1"]


def credential(fake, kind: str) -> Credential:
    if kind == "password":
        return Credential.password("admin", "adminpw")
    return Credential.token("admin", fake.add_token("admin", name="broker")[1])


@pytest.mark.parametrize("kind", ["password", "token"])
@pytest.mark.parametrize("version", LINES)
def test_mint_verify_list_revoke(make_fake_jenkins, version, kind):
    assert set(OPERATIONS) == {"mint-token", "revoke-token", "list-tokens"}
    fake = make_fake_jenkins(version=version)
    expiry = fake.state.features.expiry
    with JenkinsClient(fake.url, timeout=30.0) as client:
        strategy = make_strategy("admin-script", client, credential(fake, kind))
        minted = strategy.mint(user="ci-bot", name="jenkins-broker-line", max_lease_seconds=3 * 86400)
        assert minted.name == "jenkins-broker-line" and not minted.legacy
        me = client.whoami("ci-bot", minted.value)
        assert me["name"] == "ci-bot"
        listed = {t.uuid: t for t in strategy.list_tokens("ci-bot")}
        assert minted.uuid in listed
        row = listed[minted.uuid]
        assert row.name == "jenkins-broker-line" and row.use_counter == 1
        assert row.creation_date is not None
        stored = next(t for t in fake.tokens("ci-bot") if t["uuid"] == minted.uuid)
        if expiry:
            assert stored["expiration_date"] is not None
            assert stored["expiration_date"] <= dt.date.today() + dt.timedelta(days=4)
            assert row.expiration_date == stored["expiration_date"]
        else:
            assert stored["expiration_date"] is None and row.expiration_date is None
        strategy.revoke(user="ci-bot", uuid=minted.uuid)
        alive = client.verify_token("ci-bot", minted.value)
        assert alive is False
        assert minted.uuid not in {t.uuid for t in strategy.list_tokens("ci-bot")}
        strategy.revoke(user="ci-bot", uuid=minted.uuid)          # idempotent
    assert fake.script_console.starts == 1                       # one JVM served them all


def test_before_the_token_system_every_script_fails_clearly(make_fake_jenkins):
    fake = make_fake_jenkins(version="2.107.3")
    with JenkinsClient(fake.url, timeout=30.0) as client:
        strategy = make_strategy("admin-script", client, Credential.password("admin", "adminpw"))
        with pytest.raises(errors.JenkinsUnsupported):
            strategy.mint("ci-bot", "jenkins-broker-old", 900)
        # The scripts themselves, sent anyway, throw in Groovy: no token store before 2.129.
        for operation in OPERATIONS:
            with pytest.raises(errors.JenkinsScriptError) as caught:
                strategy._run(operation, "ci-bot", "testing", **{
                    "mint-token": {"name": "x", "expiration_days": None},
                    "revoke-token": {"uuid": "u"}, "list-tokens": {}}[operation])
            assert "MissingPropertyException" in str(caught.value)
    assert [t["legacy"] for t in fake.tokens("ci-bot")] == [True]


def test_an_unknown_user_is_a_refusal_not_a_creation(fake_jenkins):
    with JenkinsClient(fake_jenkins.url, timeout=30.0) as client:
        strategy = make_strategy("admin-script", client, Credential.password("admin", "adminpw"))
        with pytest.raises(errors.JenkinsScriptError, match="no user nobody"):
            strategy.mint("nobody", "jenkins-broker-x", 900)
    assert fake_jenkins.state.find_user("nobody") is None
