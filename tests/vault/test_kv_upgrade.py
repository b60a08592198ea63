"""A KV v2 mount just enabled refuses requests while its upgrade runs: the broker answers
503 (retry) rather than 400, and bootstrap waits until the mount serves."""

from __future__ import annotations

import hvac.exceptions
import pytest

from jenkins_broker import errors
from jenkins_broker.vault.bootstrap import wait_until_kv2_serves
from jenkins_broker.vault.translate import error_for_status

UPGRADING = ("Upgrading from non-versioned to versioned data. This backend will be "
             "unavailable for a brief period and will resume service shortly.")


def test_the_upgrade_answer_is_unavailable_not_invalid():
    error = error_for_status(400, [UPGRADING], addr="http://v", path="jenkins-broker/data/x",
                             action="write")
    assert type(error) is errors.VaultUnavailable and "retry" in str(error)
    other = error_for_status(400, ["bad json"], addr="http://v", path="x", action="write")
    assert type(other) is errors.VaultInvalidRequest


class _Adapter:
    def __init__(self, answers):
        self.answers, self.calls = list(answers), 0

    def list(self, url):
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


class _Client:
    url = "http://vault.example:8200"

    def __init__(self, answers):
        self.adapter = _Adapter(answers)


@pytest.mark.parametrize("ready", [{"data": {"keys": ["a"]}},
                                   hvac.exceptions.InvalidPath(errors=[])])  # empty: 404
def test_bootstrap_waits_while_the_mount_upgrades(ready):
    upgrading = hvac.exceptions.InvalidRequest(errors=[UPGRADING])
    client = _Client([upgrading, upgrading, ready])
    wait_until_kv2_serves(client, "jenkins-broker", timeout=5)
    assert client.adapter.calls == 3


def test_bootstrap_gives_up_on_other_errors_and_after_its_deadline():
    with pytest.raises(errors.VaultForbidden):
        wait_until_kv2_serves(_Client([hvac.exceptions.Forbidden(errors=["permission denied"])]),
                              "jenkins-broker", timeout=5)
    forever = _Client([hvac.exceptions.InvalidRequest(errors=[UPGRADING])] * 1000)
    with pytest.raises(errors.VaultUnavailable, match="finishing its upgrade"):
        wait_until_kv2_serves(forever, "jenkins-broker", timeout=0.2)
