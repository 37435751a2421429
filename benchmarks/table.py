"""The one results table: each figure's median and p99 beside its target and the naive strategy's figure."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank) of the values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass
class Row:
    """One figure of one scenario on one database."""

    scenario: str
    figure: str
    db: str
    values: list[float]
    unit: str = ""
    target: str = ""
    naive: str = ""

    @property
    def median(self) -> float:
        """The median of the samples."""
        return statistics.median(self.values)

    @property
    def p99(self) -> float:
        """The 99th percentile of the samples."""
        return p99(self.values)


_HEAD = ("scenario", "figure", "db", "median", "p99", "n", "target", "naive")


def _num(x: float, unit: str) -> str:
    """A figure with its unit, short."""
    text = f"{x:.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:.2f}"
    return f"{text} {unit}".strip()


def render(rows: list[Row]) -> str:
    """The table as fixed-width text."""
    cells = [_HEAD] + [(r.scenario, r.figure, r.db, _num(r.median, r.unit), _num(r.p99, r.unit), str(len(r.values)),
                        r.target, r.naive) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(_HEAD))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(_HEAD))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
