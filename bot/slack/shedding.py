"""Turning requests away costs less than serving them: past a rate, a flood is answered from its raw bytes.

While too much acked work is in flight every command and click is answered "busy" (`bot.slack.busy`). The first
`DETAIL_PER_SECOND` a second get the whole treatment: parsed, one log line each with the person, a note to a
click's response_url. Past that rate a signed slash command or block action is answered from what its raw bytes
show (`sniff_kind`) without being parsed, noted or logged one by one: it is counted in the metrics as before,
and one line a second says how many were turned away that way. A flood then costs the bot a fraction of what a
served request costs, so acknowledging it cannot starve the work already accepted.

Anything the sniff cannot place for certain (an event, a modal submission, a body in an unusual order) takes
the whole path. The sniff reads only signed bodies, so it reads what Slack sent; the one difference it can make
is to a signed body Slack never sends (a block action whose JSON is broken): "busy" where the parser says 400.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable

from bot.logging_setup import get_logger

log = get_logger("bot.slack.requests")

# Requests turned away busy that get their own log line (and a click its note), at most, each second.
DETAIL_PER_SECOND = 20.0
# Seconds between two summary lines of the requests turned away without their own line.
SUMMARY_EVERY = 1.0

_FORM = "application/x-www-form-urlencoded"
# Slack's interactivity form is the single field `payload`, whose JSON opens with its `type`; json.dumps may
# put a space after the colon (`+` or `%20` in the form).
_BLOCK_ACTIONS = re.compile(rb"payload=%7B%22type%22%3A(?:\+|%20)?%22block_actions%22[^&]*\Z", re.IGNORECASE)
# A slash command form has a `command` field and no `payload` field (the parser's rule, bot.slack.inbound).
_COMMAND_FIELD = re.compile(rb"(?:\A|&)command=")
_PAYLOAD_FIELD = re.compile(rb"(?:\A|&)payload=")


def sniff_kind(raw: bytes, content_type: str | None) -> str | None:
    """"command" or "action" when the raw body is certainly a slash command or a block action (what
    `parse_slack_body` would make of it), else None (parse it)."""
    if (content_type or "").split(";", 1)[0].strip().lower() != _FORM:
        return None
    if _PAYLOAD_FIELD.search(raw) is None:
        return "command" if _COMMAND_FIELD.search(raw) is not None else None
    return "action" if _BLOCK_ACTIONS.match(raw) is not None else None


class Shedding:
    """How much care a request turned away busy gets: a token bucket of detailed answers, and the count of the
    rest, written as one summary line at most every `SUMMARY_EVERY` seconds."""

    def __init__(self, per_second: float = DETAIL_PER_SECOND,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """A full bucket of `per_second` detailed answers, refilled at that rate."""
        self.per_second = per_second
        self._clock = clock
        self._tokens = per_second
        self._at = clock()
        self._quiet: Counter[tuple[str, str]] = Counter()
        self._since: float | None = None
        self._flush: asyncio.TimerHandle | None = None

    def detail_left(self) -> bool:
        """Whether the next request turned away may get the whole treatment (nothing is taken)."""
        self._refill()
        return self._tokens >= 1.0

    def take_detail(self) -> bool:
        """Take one detailed answer from the bucket; False when this second's are spent."""
        if not self.detail_left():
            return False
        self._tokens -= 1.0
        return True

    def quietly(self, transport: str, kind: str) -> None:
        """Count a request turned away without its own line; the summary goes out within `SUMMARY_EVERY` s."""
        if self._since is None:
            self._since = self._clock()
        self._quiet[(transport, kind)] += 1
        if self._flush is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a unit test): `flush` is called by hand
                return
            self._flush = loop.call_later(SUMMARY_EVERY, self.flush)

    def flush(self) -> None:
        """Write the summary line of the requests counted since the last one (nothing when there were none)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if not self._quiet:
            return
        now = self._clock()
        seconds = now - (self._since if self._since is not None else now)
        for transport in sorted({t for t, _ in self._quiet}):
            kinds = {k: n for (t, k), n in sorted(self._quiet.items()) if t == transport}
            log.info("slack requests turned away", transport=transport, outcome="busy", count=sum(kinds.values()),
                     kinds=kinds, seconds=round(seconds, 1), detail_per_second=self.per_second)
        self._quiet.clear()
        self._since = None

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.per_second, self._tokens + (now - self._at) * self.per_second)
        self._at = now
