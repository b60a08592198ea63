"""The one vocabulary for values every front door accepts (API, CLI, environment, engine).

Booleans: what Vault's own parser takes (Go's ``strconv.ParseBool``: ``1``, ``t``,
``true``, ``0``, ``f``, ``false``, in any case) plus ``yes``/``no`` and ``on``/``off``,
which roles accepted before; JSON ``true``/``false``; and the numbers 0 and 1.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidRequest

TRUE = frozenset({"1", "t", "true", "yes", "on"})
FALSE = frozenset({"0", "f", "false", "no", "off"})
#: The words the API documents for a boolean sent as text.
BOOL_WORDS = ("true", "false", "1", "0", "t", "f", "yes", "no", "on", "off")


def parse_bool(value: Any) -> bool:
    """``value`` as a boolean; raises ``ValueError`` saying what was expected."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise ValueError(f"expected true or false, got {str(value)[:40]!r}")


def request_flag(name: str, value: Any) -> bool:
    """:func:`parse_bool` for a field a caller sent: ``InvalidRequest`` naming the field."""
    try:
        return parse_bool(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name}: {exc}") from None
