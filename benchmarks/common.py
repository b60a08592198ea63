"""Statistics, the figure record, and the table printed at the end."""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

AUDIT_LINE = re.compile(r"jenkins_broker\.audit: (\{.*\})\s*$")


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest-rank on the sorted values."""
    data = sorted(values)
    if not data:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(data)))
    return data[min(rank, len(data)) - 1]


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else math.nan


@dataclass
class Figure:
    """One line of the table: a ratio against a baseline measured in the same run."""

    key: str
    title: str
    value: float                 # the ratio (or, for absolute figures, the value)
    target: str                  # e.g. "<= 1.25"
    unit: str = "x"
    holds: bool | None = None    # None: no target (informative)
    measured: str = ""           # the raw numbers behind the ratio, for the table
    details: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def check(value: float, target: str) -> bool | None:
        if not target:
            return None
        if ".." in target:  # a band, e.g. "0.9..1.1"
            low, _, high = target.partition("..")
            return float(low) <= value <= float(high)
        op, _, bound = target.partition(" ")
        limit = float(bound)
        return {"<=": value <= limit, ">=": value >= limit}[op]

    @classmethod
    def make(cls, key: str, title: str, value: float, target: str = "", **kw: Any) -> "Figure":
        return cls(key, title, value, target, holds=cls.check(value, target), **kw)


def fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "value", "target", "holds", "measured")]
    for f in figures:
        holds = {True: "yes", False: "NO", None: "-"}[f.holds]
        rows.append((f.title, f"{fmt(f.value)} {f.unit}".strip(), f.target or "-", holds, f.measured))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 8)
    return "\n".join(lines)


def summary(figures: list[Figure], *, mode: str, elapsed: float, extra: dict[str, Any]) -> str:
    return json.dumps({
        "mode": mode,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_seconds": round(elapsed, 1),
        "figures": [asdict(f) for f in figures],
        **extra,
    }, indent=2, default=str)


def audit_events(path, event: str = "revoke") -> list[dict[str, Any]]:
    """The audit lines of ``event`` in a broker's log file, parsed."""
    found = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = AUDIT_LINE.search(line)
            if m:
                data = json.loads(m.group(1))
                if data.get("event") == event:
                    found.append(data)
    return found


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.elapsed = time.perf_counter() - self.start


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
