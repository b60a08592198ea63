"""One boolean vocabulary at every front door (it used to be parsed six ways)."""

import pytest

from jenkins_broker.config import BrokerSettings
from jenkins_broker.connection import build_config
from jenkins_broker.errors import ConfigError, InvalidRequest
from jenkins_broker.roles import build_role
from jenkins_broker.values import parse_bool
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
