"""Durations as Vault writes them: ``90``, ``"90s"``, ``"15m"``, ``"1h30m"``, ``"7d"``."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
# Ten years: anything longer is a typo, and huge values overflow date arithmetic.
MAX_SECONDS = 10 * 365 * 86400


def parse_duration(value: object, *, field: str = "duration") -> int:
    """Return ``value`` as whole seconds (rounded up), or raise ``ValueError``.

    Accepts a non-negative integer, a digit string (seconds), or a sequence of
    number+unit parts (``ms``, ``s``, ``m``, ``h``, ``d``) such as ``"1h30m"``.
    The message names ``field``.
    """
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a duration such as 900, '15m' or '1h', got {value!r}")
    if isinstance(value, int):
        seconds = float(value)
    elif isinstance(value, float) and value == value:  # NaN compares unequal to itself
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if not text or len(text) > 32:
            raise ValueError(f"{field}: expected a duration such as 900, '15m' or '1h', got {value[:40]!r}")
        if re.fullmatch(r"\d+", text):
            seconds = float(text)
        else:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(f"{field}: {value!r} is not a duration (use forms like 900, '90s', '15m', '1h30m')")
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"{field}: expected a duration such as 900, '15m' or '1h', got {type(value).__name__}")
    if seconds < 0:
        raise ValueError(f"{field}: must not be negative")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{field}: {value!r} is longer than the allowed maximum of 10 years")
    whole = int(seconds)
    return whole + (1 if seconds > whole else 0)


def format_duration(seconds: int) -> str:
    """Return ``seconds`` the way Vault prints durations: ``1h30m``, ``15m``, ``45s``."""
    if seconds <= 0:
        return "0s"
    out = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
