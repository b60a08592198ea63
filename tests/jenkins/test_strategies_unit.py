"""Strategy logic against canned answers (the fake-Jenkins tests cover the real flows)."""

import json
from datetime import date, timedelta

import pytest

from jenkins_broker import errors
from jenkins_broker.jenkins import (
    LEGACY_TOKEN_ID,
    STRATEGIES,
    Credential,
    JenkinsClient,
    make_strategy,
    scripts,
)

from .stub import Answer, basic_user, form, install, stub_session

ROOT = "http://jenkins.example/"
PASSWORD = "adminpw-Very-Secret"
TOKEN = "11" + "0a1b2c3d4e5f6789" * 2
NEW = "11" + "fedcba9876543210" * 2
LEGACY = "00112233445566778899aabbccddeeff"
UUID = "0d4e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"


class Routes:
    """Canned Jenkins: version header, crumb issuer, whoAmI, and recorded POSTs."""

    def __init__(self, version="2.555.1", whoami=None, post=None):
        self.version, self.posts, self.whoami, self.post = version, [], whoami, post

    def __call__(self, request):
        path = request.path_url
        if path in ("/api/json", "/login"):
            return Answer(403, "", {"X-Jenkins": self.version} if self.version else {})
        if path == "/crumbIssuer/api/json":
            return Answer(200, json.dumps({"crumb": "c", "crumbRequestField": "Jenkins-Crumb"}),
                          cookies={"JSESSIONID.1": "s"})
        if path == "/whoAmI/api/json":
            name = self.whoami if self.whoami is not None else basic_user(request)
            if name == 401:
                return Answer(401, "")
            return Answer(200, json.dumps({"name": name, "authenticated": True,
                                           "anonymous": False}))
        if request.method == "POST":
            self.posts.append((path, form(request)))
            return self.post(request) if self.post else self.default(path)
        return Answer(404, "")

    def default(self, path):
        if path.endswith("/generateNewToken"):
            return Answer(200, json.dumps({"status": "ok", "data": {
                "tokenUuid": UUID, "tokenName": "n", "tokenValue": NEW}}))
        if path.endswith("/changeToken"):
            return Answer(200, "<div>Updated.</div>", {
                "X-Jenkins-ValidateButton-Callback": json.dumps(
                    {"callback": "changeTokenCallback", "arguments": [LEGACY]})})
        return Answer(200, "")


def client_with(routes, **kwargs):
    client = JenkinsClient(ROOT, session=stub_session(url=ROOT), **kwargs)
    install(client, routes)
    return client


def test_registry_has_the_five_strategies():
    assert set(STRATEGIES) == {"user-token", "user-password", "admin-script", "admin-rest", "legacy"}


def test_unknown_strategy_and_wrong_credentials_are_config_errors():
    client = JenkinsClient(ROOT)
    with pytest.raises(errors.ConfigError):
        make_strategy("magic", client, Credential("u", "p"))
    with pytest.raises(errors.ConfigError):
        make_strategy("user-token", client, Credential("u", "a-password"))
    with pytest.raises(errors.ConfigError):
        make_strategy("user-password", client, Credential("u", TOKEN))
    with pytest.raises(errors.ConfigError):
        make_strategy("user-token", client, Credential("u", TOKEN)).mint("other", "n", 60)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_cloudbees_controller_refuses_every_strategy_before_any_request(name):
    routes = Routes()
    client = client_with(routes, kind="cloudbees-controller")
    secret = TOKEN if name == "user-token" else PASSWORD
    strategy = make_strategy(name, client, Credential("ci-bot", secret))
    with pytest.raises(errors.CloudBeesControllerRefused) as caught:
        strategy.mint("ci-bot", "jenkins-broker-1", 900)
    message = str(caught.value)
    assert "360029355552" in message and "Operations Center" in message
    assert "cloudbees-operations-center" in message and secret not in message
    assert routes.posts == []


def test_cloudbees_controller_still_revokes():
    routes = Routes()
    client = client_with(routes, kind="cloudbees-controller")
    make_strategy("user-token", client, Credential("ci-bot", TOKEN)).revoke("ci-bot", UUID)
    assert routes.posts[0][1] == {"tokenUuid": UUID}


@pytest.mark.parametrize("version, sent", [("2.555.1", "3"), ("2.548", "3"), ("2.504", None),
                                           ("2.176.1", None), (None, "3")])
def test_expiry_parameter_only_where_jenkins_has_expiry(version, sent):
    routes = Routes(version)
    strategy = make_strategy("user-token", client_with(routes), Credential("ci-bot", TOKEN))
    minted = strategy.mint("ci-bot", "jenkins-broker-1", 86400 + 1)
    assert routes.posts[0][1].get("expirationDuration") == sent
    if sent:
        assert minted.expiration_days == 3
        assert minted.expiration_date == date.today() + timedelta(days=3)
    else:
        assert minted.expiration_date is None and minted.expiration_days is None


def test_mint_verifies_with_whoami_and_returns_the_token():
    routes = Routes()
    minted = make_strategy("user-password", client_with(routes, verify_after_mint=True),
                           Credential("ci-bot", "botpw")
                           ).mint("ci-bot", "jenkins-broker-1", 900)
    assert (minted.user, minted.uuid, minted.value, minted.legacy) == ("ci-bot", UUID, NEW, False)
    assert NEW not in repr(minted)


@pytest.mark.parametrize("whoami", [401, "someone-else"])
def test_a_token_that_does_not_log_in_is_revoked_and_reported(whoami):
    routes = Routes(whoami=whoami)
    strategy = make_strategy("admin-rest", client_with(routes, verify_after_mint=True),
                             Credential("admin", PASSWORD))
    with pytest.raises(errors.JenkinsOperationFailed) as caught:
        strategy.mint("ci-bot", "jenkins-broker-1", 900)
    assert [p[0].rsplit("/", 1)[1] for p in routes.posts] == ["generateNewToken", "revoke"]
    assert routes.posts[1][1] == {"tokenUuid": UUID}
    assert NEW not in str(caught.value) and PASSWORD not in str(caught.value)
    assert "revoked" in str(caught.value)


def test_verification_can_be_switched_off():
    routes = Routes(whoami=401)
    strategy = make_strategy("admin-rest", client_with(routes, verify_after_mint=False),
                             Credential("admin", PASSWORD))
    assert strategy.mint("ci-bot", "jenkins-broker-1", 900).value == NEW


def test_new_token_strategies_refuse_jenkins_before_2_129():
    for name in ("user-token", "user-password", "admin-script", "admin-rest"):
        secret = TOKEN if name == "user-token" else PASSWORD
        strategy = make_strategy(name, client_with(Routes("2.107.3")), Credential("ci-bot", secret))
        with pytest.raises(errors.JenkinsUnsupported) as caught:
            strategy.mint("ci-bot", "n", 60)
        assert "legacy" in str(caught.value)


def test_legacy_mint_and_revoke_are_rotations():
    routes = Routes("2.555.1")
    strategy = make_strategy("legacy", client_with(routes), Credential("ci-bot", "botpw"))
    minted = strategy.mint("ci-bot", "jenkins-broker-1", 900)
    assert minted.value == LEGACY and minted.legacy and minted.uuid == LEGACY_TOKEN_ID
    assert minted.expiration_date is None
    strategy.revoke("ci-bot", minted.uuid)
    assert [p[0].rsplit("/", 1)[1] for p in routes.posts] == ["changeToken", "changeToken"]
    assert all(p[1] == {} for p in routes.posts)


def test_legacy_refuses_to_rotate_its_own_credential():
    strategy = make_strategy("legacy", client_with(Routes()), Credential("ci-bot", LEGACY))
    with pytest.raises(errors.ConfigError):
        strategy.mint("ci-bot", "n", 60)


def test_admin_script_sends_rendered_scripts_and_parses_strictly():
    outputs = iter([
        "jenkins-broker-result " + json.dumps({"tokenUuid": UUID, "tokenName": "n", "tokenValue": NEW}),
        "jenkins-broker-result {\"revoked\": true}\n",
        f"java.lang.NullPointerException\n\tat Script1.run(Script1.groovy:3)\n{PASSWORD}\n",
    ])
    routes = Routes(post=lambda r: Answer(200, next(outputs)))
    strategy = make_strategy("admin-script", client_with(routes, verify_after_mint=False),
                             Credential("admin", PASSWORD))
    minted = strategy.mint("ci-bot", "jenkins-broker-1", 900)
    assert minted.value == NEW and minted.expiration_days == 2
    path, sent = routes.posts[0]
    assert path == "/scriptText"
    assert sent["script"] == scripts.render("mint-token", user="ci-bot", name="jenkins-broker-1",
                                            expiration_days=2)
    strategy.revoke("ci-bot", UUID)
    with pytest.raises(errors.JenkinsScriptError) as caught:
        strategy.revoke("ci-bot", UUID)
    assert PASSWORD not in str(caught.value) and "NullPointerException" in str(caught.value)


def test_admin_script_sends_no_expiry_before_2_548_or_when_unknown():
    for version in ("2.504", None):
        out = "jenkins-broker-result " + json.dumps({"tokenUuid": UUID, "tokenValue": NEW})
        routes = Routes(version, post=lambda r: Answer(200, out))  # noqa: B023  (used at once)
        make_strategy("admin-script", client_with(routes, verify_after_mint=False),
                      Credential("admin", PASSWORD)).mint("ci-bot", "n", 900)
        assert routes.posts[0][1]["script"] == scripts.render(
            "mint-token", user="ci-bot", name="n", expiration_days=None)


def test_mint_validates_its_arguments_before_sending():
    routes = Routes()
    strategy = make_strategy("user-token", client_with(routes), Credential("ci-bot", TOKEN))
    for args in (("ci-bot", "", 60), ("ci-bot", "n", -5), ("", "n", 60)):
        with pytest.raises((ValueError, errors.ConfigError)):
            strategy.mint(*args)
    assert routes.posts == []
