"""Durations as people write them (`90s`, `15m`, `2h`, `1d`, `1h30m`) to and from seconds."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX = 366 * 86400


class DurationError(ValueError):
    """A duration that cannot be read."""


def parse_duration(text: str | int) -> timedelta:
    """Read `90s`, `15m`, `2h`, `1d`, `1h30m` (or `0`) into a timedelta; raise DurationError otherwise."""
    if isinstance(text, bool):
        raise DurationError("a duration is written like 90s, 15m, 2h, 1d or 1h30m")
    if isinstance(text, int):
        if text == 0:
            return timedelta(0)
        raise DurationError(f"{text!r} has no unit: write it like 90s, 15m, 2h, 1d or 1h30m")
    s = str(text).strip().lower()
    if s == "0":
        return timedelta(0)
    pos = 0
    total = 0
    seen: set[str] = set()
    for m in _PART.finditer(s):
        if m.start() != pos or m.group(2) in seen:
            break
        seen.add(m.group(2))
        total += int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise DurationError(f"{str(text)[:40]!r} is not a duration: write it like 90s, 15m, 2h, 1d or 1h30m")
    if total > _MAX:
        raise DurationError(f"{str(text)[:40]!r} is longer than a year")
    return timedelta(seconds=total)


def looks_like_duration(text: str) -> bool:
    """True when the word reads as a duration (used to tell DURATION from the first word of REASON)."""
    try:
        parse_duration(text)
    except DurationError:
        return False
    return True


def format_duration(value: timedelta | int | float) -> str:
    """Write a duration back the way people write it: 5400s -> `1h30m`."""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)
