"""Start times as people write them (`14:00`, `tomorrow 09:00`, `2026-12-24 08:00`, ISO 8601 with `Z` or an
offset), read in the person's timezone, and the rules a scheduled start must meet."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
# a word that starts like a clock time or a date: meant as the start, so a bad one is refused instead of
# becoming the first word of the reason
_TIMEISH = re.compile(r"^([0-9]{1,2}:|[0-9]{4}-[0-9])")
_CLOCKISH = re.compile(r"^[0-9]{1,2}:[0-9]*$")
_DAY_WORDS = {"today": 0, "tomorrow": 1}
HOW = "write it like 14:00, tomorrow 09:00, 2026-12-24 08:00 or 2026-12-24T08:00Z"
MAX_WORDS = 2  # the most words a start time takes


class StartTimeError(ValueError):
    """A start time that cannot be read."""


@dataclass(frozen=True)
class Zone:
    """The person's timezone: its IANA name and whether Slack told us (else it is UTC)."""

    name: str
    tz: tzinfo
    known: bool


def zone_of(name: str | None) -> Zone:
    """The IANA zone named by users.info's `tz`, or UTC (not `known`) when it is missing or unknown."""
    if name:
        try:
            return Zone(name, ZoneInfo(name), True)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    return Zone("UTC", UTC, False)


def meant_as_start(words: list[str]) -> bool:
    """True when `words` (what follows DURATION) begin `at TIME`: the word `at` and a word that reads like a
    time, a date or `today`/`tomorrow`. Anything else after `at` (`at logs`) leaves `at` in the reason."""
    if len(words) < 2 or words[0].lower() != "at":
        return False
    nxt = words[1].lower()
    return nxt in _DAY_WORDS or bool(_TIMEISH.match(nxt))


def start_length(words: list[str]) -> int:
    """How many of `words` (what follows `at`) the start time takes: 2 for `tomorrow 09:00` and for a date
    followed by a clock time, else 1."""
    if len(words) >= 2 and (words[0].lower() in _DAY_WORDS or _DATE.match(words[0])) and _HHMM.match(words[1]):
        return 2
    if words and words[0].lower() in _DAY_WORDS:
        return min(2, len(words))
    return min(1, len(words))


def _local(day: date, clock: time, zone: Zone, shown: str) -> datetime:
    """The moment a wall-clock time on a day in the zone is; refused when the clocks skip it (DST)."""
    local = datetime.combine(day, clock, tzinfo=zone.tz)
    moment = local.astimezone(UTC)
    back = moment.astimezone(zone.tz)
    if (back.date(), back.time()) != (day, clock):
        raise StartTimeError(f"{shown!r} does not exist in {zone.name}: the clocks skip it that day")
    return moment


def _clock(word: str, shown: str) -> time:
    """`HH:MM` as a time of day."""
    m = _HHMM.match(word)
    if not m:
        raise StartTimeError(f"{shown!r} is not a time of day: {HOW}")
    return time(int(m.group(1)), int(m.group(2)))


def _day(word: str, shown: str) -> date:
    """`YYYY-MM-DD` as a date."""
    m = _DATE.match(word)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    raise StartTimeError(f"{shown!r} is not a date: {HOW}")


def parse_start(text: str, now: datetime, zone: Zone) -> datetime:
    """Read a start time (the words after `at`) into an aware UTC datetime, in the person's zone.

    `HH:MM` is that time today; `tomorrow HH:MM` (and `today HH:MM`) say the day; `YYYY-MM-DD HH:MM` and an
    ISO 8601 time without an offset are wall-clock times in the zone; `Z` or an offset say the zone themselves.
    Raises StartTimeError for anything else. Whether the time is in the past is decided by `start_problem`."""
    words = text.split()
    shown = " ".join(words)[:40]
    if not words or len(words) > MAX_WORDS:
        raise StartTimeError(f"{shown!r} is not a start time: {HOW}")
    first = words[0].lower()
    today = now.astimezone(zone.tz).date()
    if first in _DAY_WORDS:
        if len(words) != 2:
            raise StartTimeError(f"say the time too, e.g. `{first} 09:00`")
        return _local(today + timedelta(days=_DAY_WORDS[first]), _clock(words[1], shown), zone, shown)
    if len(words) == 2:
        return _local(_day(words[0], shown), _clock(words[1], shown), zone, shown)
    if _CLOCKISH.match(first):  # a clock time today (refused as no time of day when it is not one)
        return _local(today, _clock(first, shown), zone, shown)
    return _iso(words[0], zone, shown)


def _iso(word: str, zone: Zone, shown: str) -> datetime:
    """An ISO 8601 date and time (`2026-12-24T08:00Z`, `…+01:00`, or without an offset: in the zone)."""
    if "T" not in word.upper() or not _DATE.match(word[:10]):
        raise StartTimeError(f"{shown!r} is not a start time: {HOW}")
    try:
        parsed = datetime.fromisoformat(word.upper().replace("Z", "+00:00") if word[-1:] in "zZ" else word)
    except ValueError:
        raise StartTimeError(f"{shown!r} is not a start time: {HOW}") from None
    if parsed.tzinfo is None:
        return _local(parsed.date(), parsed.time().replace(microsecond=0), zone, shown)
    return parsed.astimezone(UTC)


def start_problem(start: datetime, now: datetime, max_ahead: timedelta) -> str:
    """The refusal code of a start that may not be scheduled (`start_in_past`, `start_too_far`), or ""."""
    if start <= now:
        return "start_in_past"
    if start - now > max_ahead:
        return "start_too_far"
    return ""


def window_over(start: datetime, duration: timedelta, now: datetime) -> bool:
    """True when a scheduled grant's whole window (its start plus its duration) is already behind `now`."""
    return now >= start + duration
