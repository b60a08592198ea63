"""What the tests (and the benchmarks) need besides fixtures, in one place.

- :mod:`.waiting`: ``wait_for``, polling against a deadline; it fails, naming what it
  waited for, when the deadline passes.
- :mod:`.processes`: ``free_port``, ``alive`` and ``stop_process`` for the servers a test starts as
  processes; ``serving`` for one it runs on a thread.
- :mod:`.roles`: ``ci_bot_role``, the role most tests write.
- :mod:`.world`: ``build_world``, the lease manager (and reaper) over in-memory fakes that
  the domain tests build their ``world`` fixtures on.
- :mod:`.kv`: ``wait_until_kv2_ready``: a KV v2 mount just enabled refuses requests
  until OpenBao has run its upgrade.
- :mod:`.stack`: a whole broker on loopback (OpenBao, the fake Jenkins, the broker) for the
  integration tests; ``tests/integration/conftest.py`` holds the fixtures built on it.
- :mod:`.wire`: requests of exactly these bytes, and Vault's error shape checked;
  :mod:`.bad_input` what the bad-input tests (``tests/integration/bad_input/``) share.
- :mod:`.echo_server`: the stdlib HTTP server the transport tests (``tests/transport/``)
  talk to.
- :mod:`.deploy`: the checking library of the Docker deployment files (``tests/deploy/``
  runs it).

The fixtures themselves stay in ``conftest.py`` files and ``tests/fixtures/``. This package
imports nothing heavier than the standard library at its top, so that the benchmarks can
import ``tests.support`` cheaply.
"""

from tests.support.processes import alive, free_port, serving, stop_process
from tests.support.waiting import WaitTimedOut, wait_for

__all__ = ["WaitTimedOut", "alive", "free_port", "serving", "stop_process", "wait_for"]
