"""Token listing against the fake: the script console and both HTML markups."""

import pytest

from jenkins_broker import errors
from jenkins_broker.jenkins import Credential, JenkinsClient, make_strategy

from .test_fake_strategies import credential_for


def _seed(fj):
    uuid, _ = fj.add_token("ci-bot", name="jenkins-broker-seeded <&>")
    return uuid


def test_listing_by_script_console(fake_jenkins):
    uuid = _seed(fake_jenkins)
    with JenkinsClient(fake_jenkins.url, timeout=5.0, verify_after_mint=True) as client:
        strategy = make_strategy("admin-script", client, Credential("admin", "adminpw"))
        minted = strategy.mint("ci-bot", "jenkins-broker-listed", 900)
        tokens = {t.uuid: t for t in strategy.list_tokens("ci-bot")}
    stored = {t["uuid"]: t for t in fake_jenkins.tokens("ci-bot")}
    assert set(tokens) == set(stored) == {uuid, minted.uuid}
    listed = tokens[minted.uuid]
    assert listed.name == "jenkins-broker-listed" and not listed.legacy
    assert listed.creation_date is not None and listed.use_counter == 1   # the whoAmI check
    assert listed.expiration_date == stored[minted.uuid]["expiration_date"]
    assert tokens[uuid].name == "jenkins-broker-seeded <&>"


@pytest.mark.parametrize("version, page", [("2.555.1", "/user/ci-bot/security/"),
                                           ("2.504", "/user/ci-bot/security/"),
                                           ("2.176.1", "/user/ci-bot/configure")])
@pytest.mark.parametrize("strategy_name", ["user-token", "user-password", "admin-rest"])
def test_listing_by_html_on_both_markups(make_fake_jenkins, version, page, strategy_name):
    fj = make_fake_jenkins(version=version, admin_can_generate_new_tokens=True)
    seeded = _seed(fj)
    with JenkinsClient(fj.url, timeout=5.0) as client:
        strategy = make_strategy(strategy_name, client, credential_for(strategy_name, fj))
        minted = strategy.mint("ci-bot", "jenkins-broker-listed", 900)
        tokens = {t.uuid: t for t in strategy.list_tokens("ci-bot")}
    assert set(tokens) == {t["uuid"] for t in fj.tokens("ci-bot")}
    assert tokens[minted.uuid].name == "jenkins-broker-listed"
    assert tokens[seeded].name == "jenkins-broker-seeded <&>"
    assert not any(t.legacy for t in tokens.values())
    assert [e for e in fj.request_log if e["path"] == page and e["status"] == 200]


@pytest.mark.parametrize("version", ["2.555.1", "2.504"])
def test_listing_shows_the_legacy_token(make_fake_jenkins, version):
    fj = make_fake_jenkins(version=version, creation_of_legacy_token_enabled=True)
    with JenkinsClient(fj.url, timeout=5.0) as client:
        strategy = make_strategy("legacy", client, Credential("ci-bot", "botpw"))
        strategy.mint("ci-bot", "ignored", 900)
        html = strategy.list_tokens("ci-bot")
        script = make_strategy("admin-script", client,
                               Credential("admin", "adminpw")).list_tokens("ci-bot")
    assert [t.legacy for t in html] == [True] and [t.legacy for t in script] == [True]
    assert html[0].uuid == script[0].uuid


def test_legacy_listing_before_2_129_is_empty(make_fake_jenkins):
    fj = make_fake_jenkins(version="2.107.3")
    with JenkinsClient(fj.url, timeout=5.0) as client:
        assert make_strategy("legacy", client, Credential("ci-bot", "botpw")).list_tokens("ci-bot") == []


def test_another_users_page_is_forbidden(fake_jenkins):
    with JenkinsClient(fake_jenkins.url, timeout=5.0) as client:
        strategy = make_strategy("user-password", client, Credential("other", "otherpw"))
        with pytest.raises((errors.JenkinsForbidden, errors.JenkinsNotFound)):
            strategy.list_tokens("ci-bot")


def test_reconciliation_view_by_name_prefix(fake_jenkins):
    _, value = fake_jenkins.add_token("ci-bot", name="bootstrap")
    fake_jenkins.add_token("ci-bot", name="jenkins-broker-orphan")
    with JenkinsClient(fake_jenkins.url, timeout=5.0) as client:
        strategy = make_strategy("user-token", client, Credential.token("ci-bot", value))
        orphans = [t for t in strategy.list_tokens("ci-bot") if t.name.startswith("jenkins-broker-")]
        assert [t.name for t in orphans] == ["jenkins-broker-orphan"]
        strategy.revoke("ci-bot", orphans[0].uuid)
    assert [t["name"] for t in fake_jenkins.tokens("ci-bot")] == ["bootstrap"]
