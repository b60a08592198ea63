"""One boolean vocabulary at every front door (it used to be parsed six ways)."""

import pytest

from jenkins_broker.domain.jenkins_config import build_config
from jenkins_broker.domain.roles import build_role
from jenkins_broker.errors import ConfigError, InvalidRequest
from jenkins_broker.server.settings import BrokerSettings
from jenkins_broker.values import jenkins_root_url, parse_bool
from jenkins_broker.vaultplugin.framework import as_bool
from jenkins_broker.vaultplugin.logical import BadRequest

ROLE = {"jenkins_user": "ci-bot", "strategy": "user-token", "credential": "c"}


@pytest.mark.parametrize("word,meaning", [("true", True), ("T", True), ("1", True), ("yes", True),
                                          ("on", True), ("False", False), ("f", False), ("0", False),
                                          ("no", False), ("OFF", False), (True, True), (0, False)])
def test_every_front_door_reads_the_same_words(word, meaning):
    assert parse_bool(word) is meaning
    assert build_role("r", {**ROLE, "shared": word}).shared is meaning
    assert build_config({"url": "https://j.example.com/", "verify_tls": word}).verify_tls is meaning
    assert as_bool("x", word) is meaning
    if isinstance(word, str):
        env = {"JENKINS_BROKER_ENGINE_SHARES_USERS": word}
        assert BrokerSettings.from_env(env).engine_shares_users is meaning


@pytest.mark.parametrize("word", ["perhaps", "", 2, "tru", [True]])
def test_and_refuse_the_same_words_naming_the_field(word):
    with pytest.raises(ValueError):
        parse_bool(word)
    with pytest.raises(InvalidRequest, match="verify_tls"):
        build_config({"url": "https://j.example.com/", "verify_tls": word})
    with pytest.raises(BadRequest, match="x: expected true or false"):
        as_bool("x", word)
    if isinstance(word, str) and word:
        with pytest.raises(ConfigError, match="ENGINE_SHARES_USERS"):
            BrokerSettings.from_env({"JENKINS_BROKER_ENGINE_SHARES_USERS": word})


# -- names, kinds, lease ids, token names: one rule each, made and read back alike ----------

from jenkins_broker import values  # noqa: E402
from jenkins_broker.domain.roles import InvalidRole, check_name  # noqa: E402

GOOD_NAMES = ["ci-bot", "a.b_c", "A", "0", "x" * 128, "root"]
BAD_NAMES = ["a..b", "..", "-x", ".x", "", "x" * 129, "a/b", "a b", "\u00e9t\u00e9", "a\n"]
HEX24 = "0123456789abcdef01234567"


@pytest.mark.parametrize("name", GOOD_NAMES + BAD_NAMES)
def test_one_name_rule(name):
    good = name in GOOD_NAMES
    assert values.is_name(name) is good
    assert (values.NAME_PATTERN.fullmatch(name) is not None) is good  # '..' is part of the pattern
    if good:
        assert check_name(name) == name
    else:
        with pytest.raises(InvalidRole, match="name: role name"):
            check_name(name)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_token_names_read_back_what_was_made(name):
    made = values.token_name("jenkins-broker-", name, HEX24)
    assert values.parse_token_name(made, "jenkins-broker-") == (name, HEX24)
    engine = values.engine_token_name("vault-jenkins-", name, 1796090507.9)
    assert engine.startswith(f"vault-jenkins-{name}-1796090507-")
    expected = None if name == values.ENGINE_ROOT_ROLE else (name, 1796090507)
    assert values.parse_engine_token_name(engine) == expected
    assert values.parse_engine_token_name(values.engine_root_token_name(1796086908.5)) is None


@pytest.mark.parametrize("role", BAD_NAMES)
def test_token_name_parsers_refuse_roles_no_name_can_have(role):
    """The parsers used to take any text between the prefix and the suffix for a role: a token
    a holder named ``jenkins-broker-a..b-<24 hex>`` read as a broker token of role 'a..b'."""
    assert values.parse_token_name(f"jenkins-broker-{role}-{HEX24}", "jenkins-broker-") is None
    assert values.parse_engine_token_name(f"vault-jenkins-{role}-1796090507-819d88ee") is None


def test_engine_token_deadlines_are_written_without_leading_zeros():
    assert values.parse_engine_token_name("vault-jenkins-ci-bot-1796090507-819d88ee") == ("ci-bot", 1796090507)
    for deadline in ("0", "01796090507", "\u0661\u0662"):  # the last: Arabic-Indic digits
        assert values.parse_engine_token_name(f"vault-jenkins-ci-bot-{deadline}-819d88ee") is None


def test_lease_ids_split_back_and_the_shapes_that_are_refused():
    lease_id = values.lease_id_for("ci-bot", HEX24)
    assert values.split_lease_id(lease_id) == ("ci-bot", HEX24)
    assert values.split_lease_id(f"/{lease_id}/") == ("ci-bot", HEX24)
    assert values.issued_lease("ci-bot", HEX24)
    for malformed in ("jenkins/creds/../x", "jenkins/creds/r/..", "jenkins/creds/r//x", "jenkins/creds/r/x/y",
                      "jenkins/creds/r/x\u0000", "x/jenkins/creds/r/x", "jenkins/creds/r"):
        assert values.split_lease_id(malformed) is None, malformed
    # Well shaped, never issued: the broker's answer is "not found" (see test_leases.py).
    assert values.split_lease_id("jenkins/creds/a b/c d") == ("a b", "c d")
    assert not values.issued_lease("a b", "c d") and not values.issued_lease("ci-bot", "x" * 24)
    assert values.lease_role("jenkins/creds/ci-bot/") == "ci-bot"
    assert values.lease_role("jenkins/creds/a/b") is None and values.lease_role("jenkins/creds") is None


def test_one_list_of_jenkins_kinds():
    from jenkins_broker.commands.cli import build_parser
    from jenkins_broker.jenkins import KINDS

    assert KINDS is values.JENKINS_KINDS
    kind = next(a for a in build_parser()._subparsers._group_actions[0].choices["config"]._actions
                if a.dest == "kind")
    assert kind.choices is values.JENKINS_KINDS
    for each in values.JENKINS_KINDS:
        assert build_config({"url": "https://j.example.com/", "kind": each}).kind == each
    with pytest.raises(InvalidRequest, match="kind: must be one of jenkins, cloudbees"):
        build_config({"url": "https://j.example.com/", "kind": "hudson"})


@pytest.mark.parametrize("url, message", [
    (None, "url: is required"),
    ("", "url: is required"),
    ("jenkins.example.com", "url: must be an http(s) URL with a host"),
    ("ftp://jenkins.example.com/", "url: must be an http(s) URL with a host"),
    ("http://jenkins.example.com:0/", "url: has port 0"),
    ("http://jenkins.example.com:99999/", "url: is not a valid URL"),
    ("http://jenkins.example.com:x/", "url: is not a valid URL"),
    ("https://bob:pw@jenkins.example.com/", "url: must not contain a user name or password"),
    ("https://jenkins.example.com/?x=1", "url: must not have a query or fragment"),
])
def test_one_url_rule_for_the_stored_config_and_the_client(url, message):
    # The config write and the client apply the same rule, with the same words.
    with pytest.raises(InvalidRequest) as stored:
        build_config({"url": url})
    assert str(stored.value).startswith(message)
    with pytest.raises(ConfigError) as client:
        jenkins_root_url(url)
    assert str(client.value).replace("Jenkins URL setting ", "url: ") == str(stored.value)
    assert "pw" not in str(stored.value)
