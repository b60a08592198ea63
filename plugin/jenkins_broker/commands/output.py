"""How every command prints: a key/value table or an aligned list, or JSON with ``--json``."""

from __future__ import annotations

import argparse
import json
from typing import Any


def emit(args: argparse.Namespace, data: Any, *, title: str | None = None) -> None:
    """Print ``data`` as JSON (``--json``) or as an aligned key/value table."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    if title:
        print(title)
    if isinstance(data, dict):
        if not data:
            print("(nothing)")
            return
        width = max(len(str(k)) for k in data)
        print(f"{'Key':<{width}}    Value")
        print(f"{'---':<{width}}    -----")
        for key, value in data.items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value, sort_keys=True, default=str)
            print(f"{key:<{width}}    {value}")
    elif isinstance(data, list):
        if not data:
            print("(none)")
        for item in data:
            print(item)
    else:
        print(data)


def emit_rows(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print a list of records as a table (or JSON)."""
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return
    if not rows:
        print("(none)")
        return
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
