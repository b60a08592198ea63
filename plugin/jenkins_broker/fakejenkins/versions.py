"""The Jenkins version the fake emulates, and the behaviour switches derived from it.

Every switch is one row of docs/jenkins-behaviour.md §13 (version history). A
change that shipped in weekly ``W`` is present in every version ``>= W``; one that was
back-ported to an LTS line that branched earlier (SECURITY-626 reached 2.176.2,
SECURITY-1491 reached 2.176.3 and 2.190.1) is also present from that LTS patch on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"\A(\d+)\.(\d+)(?:\.(\d+))?\Z")


def parse_version(text: str) -> tuple[int, int, int]:
    """Return ``(major, minor, patch)`` for ``"X.Y"`` or ``"X.Y.Z"``; ValueError otherwise."""
    found = _VERSION.match(str(text).strip())
    if not found:
        raise ValueError(f"Jenkins version must look like 2.555 or 2.555.1, not {text!r}")
    return int(found[1]), int(found[2]), int(found[3] or 0)


def _has(version: tuple[int, int, int], weekly: str, *backports: str) -> bool:
    # A back-port "2.176.2" covers 2.176.2, 2.176.3, ... of that LTS line only.
    if version >= parse_version(weekly):
        return True
    for backport in backports:
        line = parse_version(backport)
        if version[:2] == line[:2] and version[2] >= line[2]:
            return True
    return False


@dataclass(frozen=True)
class Features:
    """What the emulated version does, one flag per row of docs/jenkins-behaviour.md §13."""

    version: str
    crumb_field: str              # §3.3: ".crumb" before 2.0
    token_csrf_exempt: bool       # §3.4 ApiCrumbExclusion, 2.96
    jenkins_get: bool             # §4.10 Jenkins.get() for scripts, 2.98
    new_tokens: bool              # §13 new token system, 2.129
    session_crumb: bool           # §3.2 SECURITY-626, 2.186 / 2.176.2
    issuer_creates_session: bool  # SECURITY-1491: getSession() instead of getSession(false), 2.192
    sha256_crumb: bool            # §3.2 JENKINS-58734, 2.190
    script_needs_administer: bool  # §4.10 JEP-223, 2.222 (before: Overall/RunScripts)
    revoke_all: bool              # §4.3, §4.4, §4.6 JENKINS-57484, 2.260
    security_page: bool           # §10 /user/{id}/security/, 2.468
    new_markup: bool              # §10 token cards and §4.5 rename envelope, 2.505
    callback_header: bool         # §4.7 X-Jenkins-ValidateButton-Callback, 2.540
    crumb_without_ip: bool        # §3.2 PR #25918, 2.543
    expiry: bool                  # §4.1 token expiration, 2.548


def features_for(version: str) -> Features:
    """Return the :class:`Features` of Jenkins ``version`` (raises ValueError if malformed)."""
    v = parse_version(version)
    return Features(
        version=str(version).strip(),
        crumb_field="Jenkins-Crumb" if v >= (2, 0, 0) else ".crumb",
        token_csrf_exempt=_has(v, "2.96"),
        jenkins_get=_has(v, "2.98"),
        new_tokens=_has(v, "2.129"),
        session_crumb=_has(v, "2.186", "2.176.2"),
        issuer_creates_session=_has(v, "2.192", "2.176.3", "2.190.1"),
        sha256_crumb=_has(v, "2.190"),
        script_needs_administer=_has(v, "2.222"),
        revoke_all=_has(v, "2.260"),
        security_page=_has(v, "2.468"),
        new_markup=_has(v, "2.505"),
        callback_header=_has(v, "2.540"),
        crumb_without_ip=_has(v, "2.543"),
        expiry=_has(v, "2.548"),
    )
