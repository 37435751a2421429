"""Reading `/access breakglass ROLE [DURATION] REASON` (a pure function of the typed words, for the command)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.durations import DurationError, meant_as_duration, parse_duration
from bot.slack.text import cut, inert

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


def role_and_duration(words: list[str], usage: str, *, what: str = "which role",
                      hint: str = "") -> tuple[str, timedelta | None, int] | Unreadable:
    """ROLE [DURATION] after the subcommand (`request`, `breakglass`): the role, the duration when one was typed
    (None: the role's default) and how many words they took; or what is wrong, in words safe to show. A word after
    the role that starts like a number is the DURATION (a bad one is refused, never taken as the reason's first
    word)."""
    if len(words) < 2:
        return Unreadable("usage", f"say {what}: {usage}")
    role = words[1].lower()
    if not ROLE_NAME.match(role):
        return Unreadable("unknown_role", f"`{inert(cut(words[1], 40))}` is not a role name. {usage}{hint}")
    if len(words) >= 3 and meant_as_duration(words[2]):
        try:
            return role, parse_duration(words[2]), 3
        except DurationError as exc:
            return Unreadable("bad_duration", f"{inert(str(exc))}. {usage}", role)
    return role, None, 2


def parse_breakglass(words: list[str]) -> BreakGlassAsk | Unreadable:
    """`words` are the command's words, `breakglass` first: ROLE [DURATION] (see `role_and_duration`), then the
    REASON."""
    read = role_and_duration(words, USAGE, what="which role and why")
    if isinstance(read, Unreadable):
        return read
    role, duration, skip = read
    return BreakGlassAsk(role, duration, _rest(words, skip))
