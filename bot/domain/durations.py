"""Durations as people write them (`90s`, `15m`, `2h`, `1d`, `1h30m`) to and from seconds."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"([0-9]+)([a-z]*)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX = 366 * 86400
_MAX_DIGITS = 9  # more than a year in seconds; longer numbers are refused before int() reads them
# a word that starts like a number (a sign, digits, a decimal point): meant as a duration, so it is read
# as one and refused if it is not a valid one, rather than taken as the first word of a reason
_NUMBERISH = re.compile(r"^[-+\u2212]?[0-9.]")
_HOW = "write it like 90s, 15m, 2h, 1d or 1h30m"


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
    shown = str(text)[:40]
    s = str(text).strip().lower()
    if s == "0":
        return timedelta(0)
    if s[:1] in "-+\u2212" and s[1:2].isdigit():
        raise DurationError(f"{shown!r} is not a duration: a duration is more than zero ({_HOW})")
    if re.match(r"^[0-9]*[.,][0-9]", s):
        raise DurationError(f"{shown!r} is not a duration: use whole numbers (1h30m, not 1.5h)")
    pos = 0
    total = 0
    seen: set[str] = set()
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        digits, unit = m.groups()
        if len(digits.lstrip("0")) > _MAX_DIGITS:
            raise DurationError(f"{shown!r} is longer than a year")
        if not unit and m.end() < len(s):
            break  # `4 hours`: not a number and a unit
        if unit not in _UNIT_SECONDS:
            what = f"unknown unit {unit[:10]!r}" if unit else "no unit"
            raise DurationError(f"{shown!r} is not a duration: {what}; {_HOW}")
        if unit in seen:
            raise DurationError(f"{shown!r} is not a duration: {unit!r} is given twice; {_HOW}")
        seen.add(unit)
        total += int(digits) * _UNIT_SECONDS[unit]
        pos = m.end()
    if not s or pos != len(s):
        raise DurationError(f"{shown!r} is not a duration: {_HOW}")
    if total > _MAX:
        raise DurationError(f"{shown!r} is longer than a year")
    return timedelta(seconds=total)


def meant_as_duration(word: str) -> bool:
    """True when a word reads as a duration or starts like a number (`-5m`, `1.5h`, `90x`): either way it
    was meant as the DURATION, so a bad one is refused instead of becoming the first word of a REASON."""
    return looks_like_duration(word) or bool(_NUMBERISH.match(word.strip()))


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
