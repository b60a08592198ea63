"""``BrokerSettings`` (plugin/jenkins_broker/server/settings.py): the HTTP server's limits for
slow and idle clients read from the environment and checked, and every setting documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from jenkins_broker.errors import ConfigError
from jenkins_broker.server import httpd
from jenkins_broker.server.settings import PREFIX, BrokerSettings

ROOT = Path(__file__).resolve().parent.parent


def test_the_defaults_are_the_servers():
    settings = BrokerSettings.from_env({})
    assert settings.request_deadline == httpd.REQUEST_DEADLINE == 10.0
    assert settings.idle_timeout == httpd.IDLE_TIMEOUT == 10
    assert settings.spare_threads == httpd.SPARE_THREADS == 100


def test_they_are_read_from_the_environment():
    settings = BrokerSettings.from_env({"JENKINS_BROKER_REQUEST_DEADLINE": " 2.5 ",
                                        "JENKINS_BROKER_IDLE_TIMEOUT": "30",
                                        "JENKINS_BROKER_SPARE_THREADS": "0"})
    assert (settings.request_deadline, settings.idle_timeout, settings.spare_threads) == (2.5, 30, 0)


@pytest.mark.parametrize("name,value,message", [
    ("REQUEST_DEADLINE", "0", "more than 0 and at most 600 seconds"),
    ("REQUEST_DEADLINE", "-1", "more than 0 and at most 600 seconds"),
    ("REQUEST_DEADLINE", "601", "more than 0 and at most 600 seconds"),
    ("REQUEST_DEADLINE", "nan", "more than 0 and at most 600 seconds"),
    ("REQUEST_DEADLINE", "inf", "more than 0 and at most 600 seconds"),
    ("REQUEST_DEADLINE", "10s", "must be a number, not '10s'"),
    ("IDLE_TIMEOUT", "0", "between 1 and 3600 seconds"),
    ("IDLE_TIMEOUT", "3601", "between 1 and 3600 seconds"),
    ("IDLE_TIMEOUT", "2.5", "must be a whole number, not '2.5'"),
    ("SPARE_THREADS", "-1", "between 0 and 1024"),
    ("SPARE_THREADS", "1025", "between 0 and 1024"),
    ("SPARE_THREADS", "many", "must be a whole number, not 'many'"),
    ("FORWARD_MAX_BODY", "-1", "between 0 and 1073741824 bytes"),
    ("FORWARD_MAX_BODY", "32MB", "must be a whole number, not '32MB'"),
    ("FORWARD_TIMEOUT", "0", "more than 0 and at most 3600 seconds"),
    ("FORWARD_TIMEOUT", "nan", "more than 0 and at most 3600 seconds"),
])
def test_bad_values_are_refused_naming_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=re.escape(f"JENKINS_BROKER_{name} ") + ".*" + re.escape(message)):
        BrokerSettings.from_env({f"JENKINS_BROKER_{name}": value})


@pytest.mark.parametrize("name,value", [("REQUEST_DEADLINE", "0.1"), ("REQUEST_DEADLINE", "600"),
                                        ("IDLE_TIMEOUT", "1"), ("IDLE_TIMEOUT", "3600"),
                                        ("SPARE_THREADS", "1024"), ("FORWARD_MAX_BODY", "0"),
                                        ("FORWARD_TIMEOUT", "3600")])
def test_the_bounds_themselves_are_accepted(name, value):
    BrokerSettings.from_env({f"JENKINS_BROKER_{name}": value})


def test_every_setting_is_documented_in_the_class_and_the_readme():
    source = (ROOT / "plugin/jenkins_broker/server/settings.py").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [PREFIX + f.name.upper() for f in dataclasses.fields(BrokerSettings)]
    assert [n for n in names if f"# [{n}]" not in source] == []
    assert [n for n in names if f"`{n}`" not in readme] == []
