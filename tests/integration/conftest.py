"""The fixtures of the integration tests; the whole broker they run on loopback is built by
:mod:`tests.support.stack`, whose helpers the tests import from there."""

import pytest

from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from jenkins_broker.vault import BaoDevServer
from tests.support.stack import STACK_SETTINGS, running_stack


@pytest.fixture(scope="module")
def stack():
    """One broker stack per module (:func:`~tests.support.stack.running_stack`): users admin,
    ci-bot and deployer, with a password credential each and ci-bot's token credential."""
    jenkins = FakeJenkins([FakeUser("admin", "adminpw", admin=True), FakeUser("ci-bot", "botpw"),
                           FakeUser("deployer", "deploypw")], version="2.555.1",
                          admin_can_generate_new_tokens=True, creation_of_legacy_token_enabled=True)
    with running_stack(BaoDevServer(), jenkins, STACK_SETTINGS, passwords={
            "ci-bot-password": ("ci-bot", "botpw"), "admin": ("admin", "adminpw"),
            "deployer": ("deployer", "deploypw")}) as st:
        yield st
