"""The fixtures of the integration tests; the whole broker they run on loopback is built by
:mod:`tests.support.stack`, whose helpers the tests import from there."""

import pytest

from tests.support.origin import brokers, jenkins2, listener, ostack  # noqa: F401  (fixtures)
from tests.support.stack import standard_stack


@pytest.fixture(scope="module")
def stack():
    """One broker stack per module (:func:`~tests.support.stack.standard_stack`): users admin,
    ci-bot and deployer, with a password credential each and ci-bot's token credential."""
    with standard_stack() as st:
        yield st
