"""Every strategy against the fake Jenkins: mint, log in with the token, revoke, log in fails.

Versions: 2.555.1 (current LTS: expiry, token cards, callback header), 2.504 (old
markup, no expiry), 2.176.1 (before SECURITY-626: crumbs without sessions,
/configure page) and, for the legacy strategy, 2.107.3 (before the new token system).
"""

from datetime import timedelta

import pytest

from jenkins_broker import errors, transport
from jenkins_broker.errors import ConfigError
from jenkins_broker.jenkins import LEGACY_TOKEN_ID, Credential, JenkinsClient, make_strategy

STRATEGY_NAMES = ["user-token", "user-password", "admin-script", "admin-rest", "legacy"]
VERSIONS = ["2.555.1", "2.504", "2.176.1"]


def credential_for(strategy: str, fj) -> Credential:
    if strategy == "user-token":
        _, value = fj.add_token("ci-bot", name="bootstrap")
        return Credential.token("ci-bot", value)
    if strategy in ("user-password", "legacy"):
        return Credential.password("ci-bot", "botpw")
    return Credential.password("admin", "adminpw")


def mint_verify_revoke(fj, strategy_name, credential=None, *, kind="jenkins"):
    with JenkinsClient(fj.url, timeout=5.0, kind=kind) as client:
        strategy = make_strategy(strategy_name, client, credential or credential_for(strategy_name, fj))
        minted = strategy.mint(user="ci-bot", name="jenkins-broker-t1", max_lease_seconds=900)
        me = client.whoami("ci-bot", minted.value)
        assert me["name"] == "ci-bot" and me["authenticated"] is True and me["anonymous"] is False
        strategy.revoke(user="ci-bot", uuid=minted.uuid)
        assert client.verify_token("ci-bot", minted.value) is False
        with pytest.raises(errors.JenkinsAuthError):
            client.whoami("ci-bot", minted.value)
        strategy.revoke(user="ci-bot", uuid=minted.uuid)      # idempotent
        return minted


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("strategy_name", STRATEGY_NAMES)
def test_mint_verify_revoke(make_fake_jenkins, version, strategy_name):
    fj = make_fake_jenkins(version=version, admin_can_generate_new_tokens=True,
                           creation_of_legacy_token_enabled=True)
    minted = mint_verify_revoke(fj, strategy_name)
    assert minted.user == "ci-bot"
    if strategy_name == "legacy":
        assert minted.legacy and minted.uuid == LEGACY_TOKEN_ID and len(minted.value) == 32
    else:
        assert not minted.legacy and minted.name == "jenkins-broker-t1"
        assert minted.uuid not in {t["uuid"] for t in fj.tokens("ci-bot")}


def test_legacy_on_jenkins_before_the_new_token_system(make_fake_jenkins):
    fj = make_fake_jenkins(version="2.107.3")
    mint_verify_revoke(fj, "legacy")


@pytest.mark.parametrize("strategy_name", ["user-token", "user-password", "admin-script",
                                           "admin-rest"])
def test_new_token_strategies_are_unsupported_before_2_129(make_fake_jenkins, strategy_name):
    fj = make_fake_jenkins(version="2.107.3")
    secret = ("11" + "ab" * 16) if strategy_name == "user-token" else "botpw"
    with JenkinsClient(fj.url, timeout=5.0) as client:
        strategy = make_strategy(strategy_name, client, Credential("ci-bot", secret))
        with pytest.raises(errors.JenkinsUnsupported):
            strategy.mint("ci-bot", "jenkins-broker-t1", 900)


@pytest.mark.parametrize("strategy_name", ["admin-script", "admin-rest"])
def test_admin_strategies_with_an_admin_token_send_no_crumb(make_fake_jenkins, strategy_name):
    fj = make_fake_jenkins(admin_can_generate_new_tokens=True)
    _, admin_token = fj.add_token("admin", name="broker")
    mint_verify_revoke(fj, strategy_name, Credential.token("admin", admin_token))
    assert not [e for e in fj.request_log if e["path"] == "/crumbIssuer/api/json"]
    posts = [e for e in fj.request_log if e["method"] == "POST"]
    assert posts and all(e["via"] == "token" and e["user"] == "admin" for e in posts)


def test_user_token_posts_are_token_authenticated_without_crumb(fake_jenkins):
    mint_verify_revoke(fake_jenkins, "user-token")
    assert not [e for e in fake_jenkins.request_log if e["path"] == "/crumbIssuer/api/json"]
    posts = [e for e in fake_jenkins.request_log if e["method"] == "POST"]
    assert len(posts) == 3 and all(e["via"] == "token" for e in posts)


def test_user_password_uses_crumb_and_session(fake_jenkins):
    mint_verify_revoke(fake_jenkins, "user-password")
    log = fake_jenkins.request_log
    assert len([e for e in log if e["path"] == "/crumbIssuer/api/json"]) == 1   # cached
    posts = [e for e in log if e["method"] == "POST"]
    assert len(posts) == 3 and all(e["via"] == "password" and e["status"] == 200 for e in posts)


@pytest.mark.parametrize("strategy_name", ["user-password", "admin-script", "legacy"])
def test_crumb_is_fetched_again_once_after_a_restart(make_fake_jenkins, strategy_name):
    fj = make_fake_jenkins(creation_of_legacy_token_enabled=True)
    with JenkinsClient(fj.url, timeout=5.0) as client:
        strategy = make_strategy(strategy_name, client, credential_for(strategy_name, fj))
        strategy.mint("ci-bot", "jenkins-broker-1", 900)
        fj.restart()
        strategy.mint("ci-bot", "jenkins-broker-2", 900)
    log = fj.request_log
    assert len([e for e in log if e["path"] == "/crumbIssuer/api/json"]) == 2
    statuses = [e["status"] for e in log if e["method"] == "POST"]
    assert statuses == [200, 403, 200]


def test_admin_rest_without_the_system_property(fake_jenkins):
    before = fake_jenkins.tokens("ci-bot")
    with JenkinsClient(fake_jenkins.url, timeout=5.0) as client:
        strategy = make_strategy("admin-rest", client, Credential("admin", "adminpw"))
        with pytest.raises(errors.AdminCannotGenerateTokens) as caught:
            strategy.mint("ci-bot", "jenkins-broker-1", 900)
    message = str(caught.value)
    assert "-Djenkins.security.ApiTokenProperty.adminCanGenerateNewTokens=true" in message
    assert "'ci-bot'" in message and "'admin'" in message and "adminpw" not in message
    assert fake_jenkins.tokens("ci-bot") == before


def test_admin_rest_with_the_system_property(make_fake_jenkins):
    fj = make_fake_jenkins(admin_can_generate_new_tokens=True)
    minted = mint_verify_revoke(fj, "admin-rest")
    assert minted.name == "jenkins-broker-t1"


def test_admin_rest_for_an_unknown_user(make_fake_jenkins):
    fj = make_fake_jenkins(admin_can_generate_new_tokens=True)
    with JenkinsClient(fj.url, timeout=5.0) as client:
        strategy = make_strategy("admin-rest", client, Credential("admin", "adminpw"))
        with pytest.raises(errors.JenkinsNotFound) as caught:
            strategy.mint("nobody", "jenkins-broker-1", 900)
    assert "'nobody'" in str(caught.value)


@pytest.mark.parametrize("fault", [True, "after", "boom: this script failed"])
def test_admin_script_output_is_parsed_strictly(fake_jenkins, fault):
    fake_jenkins.script_fault = fault
    with JenkinsClient(fake_jenkins.url, timeout=5.0) as client:
        strategy = make_strategy("admin-script", client, Credential("admin", "adminpw"))
        with pytest.raises(errors.JenkinsScriptError) as caught:
            strategy.mint("ci-bot", "jenkins-broker-1", 900)
        if fault == "after":
            # the token was made before the script threw: the strategy revoked it again
            fake_jenkins.script_fault = None
        else:
            with pytest.raises(errors.JenkinsScriptError):
                strategy.list_tokens("ci-bot")
    assert "adminpw" not in str(caught.value) and "adminpw" not in repr(caught.value)
    assert "jenkins-broker-1" not in [t["name"] for t in fake_jenkins.tokens("ci-bot")]


def test_admin_script_as_non_admin_is_forbidden(fake_jenkins):
    with JenkinsClient(fake_jenkins.url, timeout=5.0) as client:
        strategy = make_strategy("admin-script", client, Credential("other", "otherpw"))
        with pytest.raises(errors.JenkinsForbidden):
            strategy.mint("ci-bot", "jenkins-broker-1", 900)


def test_wrong_password_is_an_auth_error(fake_jenkins):
    with JenkinsClient(fake_jenkins.url, timeout=5.0) as client:
        strategy = make_strategy("user-password", client, Credential("ci-bot", "wrong-pw-123"))
        with pytest.raises(errors.JenkinsAuthError) as caught:
            strategy.mint("ci-bot", "jenkins-broker-1", 900)
    assert "wrong-pw-123" not in str(caught.value) and "'ci-bot'" in str(caught.value)


def test_legacy_creation_disabled_is_a_clear_error(fake_jenkins):
    with JenkinsClient(fake_jenkins.url, timeout=5.0) as client:
        strategy = make_strategy("legacy", client, Credential("ci-bot", "botpw"))
        with pytest.raises(errors.JenkinsUnsupported) as caught:
            strategy.mint("ci-bot", "jenkins-broker-1", 900)
    assert "legacy token" in str(caught.value)


@pytest.mark.parametrize("version", ["2.504", "2.555.1"])
def test_legacy_rotation_by_an_admin(make_fake_jenkins, version):
    # Before 2.540 the script header hides the value from an admin; since, the
    # callback header carries it (docs/jenkins-behaviour.md §4.7).
    fj = make_fake_jenkins(version=version, creation_of_legacy_token_enabled=True)
    with JenkinsClient(fj.url, timeout=5.0) as client:
        strategy = make_strategy("legacy", client, Credential("admin", "adminpw"))
        if version == "2.504":
            with pytest.raises(errors.JenkinsForbidden) as caught:
                strategy.mint("ci-bot", "jenkins-broker-1", 900)
            assert "Token is hidden" in str(caught.value)
        else:
            minted = strategy.mint("ci-bot", "jenkins-broker-1", 900)
            assert client.verify_token("ci-bot", minted.value)


def test_a_legacy_lease_ends_by_rotation(make_fake_jenkins):
    fj = make_fake_jenkins(creation_of_legacy_token_enabled=True)
    with JenkinsClient(fj.url, timeout=5.0) as client:
        strategy = make_strategy("legacy", client, Credential("ci-bot", "botpw"))
        minted = strategy.mint("ci-bot", "jenkins-broker-1", 900)
        assert fj.legacy_token("ci-bot") == minted.value
        strategy.revoke("ci-bot", minted.uuid)
        assert fj.legacy_token("ci-bot") not in (None, minted.value)
        assert not client.verify_token("ci-bot", minted.value)


@pytest.mark.parametrize("kind", ["cloudbees-operations-center", "jenkins"])
def test_minting_on_an_operations_center_or_jenkins_works(fake_jenkins, kind):
    mint_verify_revoke(fake_jenkins, "user-password", kind=kind)


@pytest.mark.parametrize("strategy_name", STRATEGY_NAMES)
def test_cloudbees_controller_is_refused(fake_jenkins, strategy_name):
    credential = credential_for(strategy_name, fake_jenkins)
    before = fake_jenkins.tokens("ci-bot")
    with JenkinsClient(fake_jenkins.url, timeout=5.0, kind="cloudbees-controller") as client:
        strategy = make_strategy(strategy_name, client, credential)
        with pytest.raises(errors.CloudBeesControllerRefused) as caught:
            strategy.mint("ci-bot", "jenkins-broker-1", 900)
    assert "Operations Center" in str(caught.value) and "360029355552" in str(caught.value)
    assert [t["uuid"] for t in fake_jenkins.tokens("ci-bot")] == [t["uuid"] for t in before]
    assert not [e for e in fake_jenkins.request_log if e["method"] == "POST"]


# -- expiry ----------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy_name", ["user-token", "admin-script", "admin-rest"])
@pytest.mark.parametrize("lease, days", [(900, 2), (10 * 86400, 11)])
def test_expiry_backstop_on_2_555_1(make_fake_jenkins, strategy_name, lease, days):
    fj = make_fake_jenkins(admin_can_generate_new_tokens=True)
    with JenkinsClient(fj.url, timeout=5.0) as client:
        strategy = make_strategy(strategy_name, client, credential_for(strategy_name, fj))
        minted = strategy.mint("ci-bot", "jenkins-broker-1", lease)
        stored = {t["uuid"]: t for t in fj.tokens("ci-bot")}[minted.uuid]
        expires = stored["expiration_date"]
        assert expires == fj.today + timedelta(days=days)
        assert expires >= fj.today + timedelta(seconds=lease)
        assert minted.expiration_days == days
        fj.today = expires                      # the last day still works
        assert client.verify_token("ci-bot", minted.value)
        fj.today = expires + timedelta(days=1)  # then Jenkins refuses it
        assert client.verify_token("ci-bot", minted.value) is False


@pytest.mark.parametrize("strategy_name", ["user-token", "user-password", "admin-rest"])
def test_no_expiry_parameters_before_2_548(make_fake_jenkins, strategy_name):
    fj = make_fake_jenkins(version="2.504", admin_can_generate_new_tokens=True)
    sent = []

    class Recording(transport.Session):
        def request(self, method, url, **kwargs):
            if method == "POST":
                sent.append(dict(kwargs.get("form") or {}))
            return super().request(method, url, **kwargs)
    with JenkinsClient(fj.url, timeout=5.0, session=Recording(fj.url)) as client:
        strategy = make_strategy(strategy_name, client, credential_for(strategy_name, fj))
        minted = strategy.mint("ci-bot", "jenkins-broker-1", 900)
    assert sent[0] == {"newTokenName": "jenkins-broker-1"}
    assert minted.expiration_date is None
    assert {t["uuid"]: t for t in fj.tokens("ci-bot")}[minted.uuid]["expiration_date"] is None


def test_legacy_strategy_revokes_a_real_uuid_exactly(make_fake_jenkins):
    fj = make_fake_jenkins(creation_of_legacy_token_enabled=True)
    uuid, value = fj.add_token("ci-bot", name="jenkins-broker-orphan")
    with JenkinsClient(fj.url, timeout=5.0) as client:
        strategy = make_strategy("legacy", client, Credential("ci-bot", "botpw"))
        minted = strategy.mint("ci-bot", "ignored", 900)
        strategy.revoke("ci-bot", uuid)
        assert not client.verify_token("ci-bot", value)
        assert client.verify_token("ci-bot", minted.value)     # the lease's token lives on


def test_a_users_own_strategy_takes_its_id_in_any_case_as_jenkins_does(fake_jenkins):
    """``CI-BOT`` and ``ci-bot`` are one Jenkins user (its IdStrategy ignores case), so a
    credential written ``CI-BOT`` mints for a role naming ``ci-bot``, as ``check`` says it
    will (values.same_jenkins_user is the one rule for both)."""
    _, secret = fake_jenkins.add_token("ci-bot", name="written in capitals")
    with JenkinsClient(fake_jenkins.url) as client:
        strategy = make_strategy("user-token", client, Credential("CI-BOT", secret))
        minted = strategy.mint("ci-bot", "case-test", 3600)
        assert client.whoami("ci-bot", minted.value)["name"] == "ci-bot"
        with pytest.raises(ConfigError, match="own user"):
            strategy.mint("deployer", "not-mine", 3600)
