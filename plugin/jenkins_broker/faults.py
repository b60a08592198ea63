"""Crash points, for the fault suite only.

``JENKINS_BROKER_CRASH_AT=<point>`` in a broker's environment makes the process
kill itself with SIGKILL when it reaches that point, so tests can prove that a
crash at any step of a mint or a revocation loses no token. Unset (always, in
production) it costs one string comparison.

Points: ``mint:after-jenkins`` (token made, no record yet), ``mint:after-record``
(recorded, not yet returned), ``revoke:after-claim`` (record claimed, Jenkins not
called), ``revoke:after-jenkins`` (revoked in Jenkins, record not deleted).
"""

from __future__ import annotations

import os
import signal

POINTS = ("mint:after-jenkins", "mint:after-record", "revoke:after-claim", "revoke:after-jenkins")
_ARMED = os.environ.get("JENKINS_BROKER_CRASH_AT", "")


def crash_point(name: str) -> None:
    """SIGKILL this process if ``JENKINS_BROKER_CRASH_AT`` names this point."""
    if _ARMED and _ARMED == name:
        os.kill(os.getpid(), signal.SIGKILL)
