"""After all the bad input of this package (the conftest runs this file last), the broker
still answers, mints, and knows the lease minted before it all."""

from __future__ import annotations

import pytest

from tests.support.bad_input import ROLE, lookup
from tests.support.wire import send

pytestmark = pytest.mark.integration


def test_the_broker_still_works_after_all_of_it(env):
    assert send(env.stack, "GET", "/v1/sys/health").status == 200
    minted = env.stack.mint(ROLE, env.root, ttl="2m")
    assert minted.status_code == 200 and minted.json()["lease_duration"] == 120, minted.text
    assert lookup(env.stack, env.root, env.lease_id)["id"] == env.lease_id
