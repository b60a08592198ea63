"""One broker takes all the bad input of this package, as when it was one module: ``stack``
and ``env`` are package-scoped, and ``test_afterwards.py`` runs after every other test
here to check the broker still works after all of it."""

from pathlib import Path

import pytest

from tests.support.bad_input import ROLE, Env
from tests.support.stack import standard_stack

AFTERWARDS = Path(__file__).with_name("test_afterwards.py")


@pytest.fixture(scope="package")
def stack():
    """The integration tests' usual stack (:func:`~tests.support.stack.standard_stack`),
    one for the package instead of one per module."""
    with standard_stack() as st:
        yield st


@pytest.fixture(scope="package")
def env(stack):
    """Role ``bad-input`` written and one lease minted from it with the root token."""
    stack.role(ROLE, ttl="10m", max_ttl="1h")
    root = stack.bao.root_token
    minted = stack.mint(ROLE, root)
    assert minted.status_code == 200, minted.text
    lease_id = minted.json()["lease_id"]
    return Env(stack, root, lease_id)


def pytest_collection_modifyitems(items):
    """Move the tests of ``test_afterwards.py`` right after this package's last other test,
    whatever order the files are collected in (pytest calls this hook with the items of
    the whole session: only this package's are moved)."""
    after = [item for item in items if item.path == AFTERWARDS]
    if not after:
        return
    first = items.index(after[0])
    for item in after:
        items.remove(item)
    ours = [i for i, item in enumerate(items) if item.path.parent == AFTERWARDS.parent]
    at = ours[-1] + 1 if ours else first
    items[at:at] = after
