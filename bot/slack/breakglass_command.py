"""Reading `/access breakglass ROLE [DURATION] REASON` (a pure function of the typed words, for the command)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.durations import DurationError, meant_as_duration, parse_duration

ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
USAGE = "`/access breakglass ROLE [DURATION] REASON`, e.g. `/access breakglass prod-db 30m INC-4211 db down`"


@dataclass(frozen=True)
class BreakGlassAsk:
    """What was asked: the role, the duration (None: the role's default, within its cap) and the reason."""

    role: str
    duration: timedelta | None
    reason: str


@dataclass(frozen=True)
class Unreadable:
    """Words that do not read as a break-glass command: a machine code and what to say."""

    code: str
    problem: str
    role: str | None = None


def _rest(words: list[str], n: int) -> str:
    """The words after the first `n`, joined by single spaces."""
    return " ".join(words[n:]).strip()


def parse_breakglass(words: list[str]) -> BreakGlassAsk | Unreadable:
    """`words` are the command's words, `breakglass` first. A word after the role that starts like a number is
    the DURATION (a bad one is refused, never taken as the reason's first word); the rest is the REASON."""
    if len(words) < 2:
        return Unreadable("usage", f"say which role and why: {USAGE}")
    role = words[1].lower()
    if not ROLE_NAME.match(role):
        return Unreadable("unknown_role", f"`{words[1][:40]}` is not a role name. {USAGE}")
    duration: timedelta | None = None
    skip = 2
    if len(words) >= 3 and meant_as_duration(words[2]):
        try:
            duration = parse_duration(words[2])
        except DurationError as exc:
            return Unreadable("bad_duration", f"{exc}. {USAGE}", role)
        skip = 3
    return BreakGlassAsk(role, duration, _rest(words, skip))
