"""Fixtures of the examples' tests: one broker stack per module with the role ci-bot in
shared mode (so one role answers both ways: Vault serves the rotating shared token, the
broker mints a fresh one per read), and the tools a CI image would have."""

from __future__ import annotations

import pytest

from tests.support import wait_for
from tests.support.ci_examples import clean_env, tool_dir
from tests.support.stack import standard_stack


@pytest.fixture(scope="module")
def ex_stack():
    """:func:`~tests.support.stack.standard_stack` with role ci-bot (ttl 15m, shared), its
    first shared token published in Vault."""
    with standard_stack() as st:
        st.role("ci-bot", ttl="15m", max_ttl="1h", shared=True)
        wait_for(lambda: st.admin_store.read_shared("ci-bot"), timeout=30,
                 what="the first shared token of ci-bot")
        yield st


@pytest.fixture
def tools(tmp_path):
    """A directory for PATH: ``vault`` (the bao binary) and the curl shim."""
    return tool_dir(tmp_path / "bin")


@pytest.fixture
def env_for(tools, tmp_path):
    """``env_for(**values)``: a clean environment with ``tools`` on PATH and ``values``."""
    return lambda **values: clean_env(tools, tmp_path / "home", **values)
