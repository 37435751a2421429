"""The token-wide rate-limit gate: after a 429, no call with the token goes out until Retry-After has passed.

Cloudflare's rate limit (1,200 requests per 5 minutes) belongs to the API token, not to one group or
endpoint, so one gate serves every call a `CloudflareClient` makes. A 429 closes it for the answer's
`Retry-After` (a default when the header is missing, capped so an absurd value cannot stall
revocations for hours). The gate is the backstop: the token's budget (`spend_slot`, bot.domain.budget)
keeps the bot from getting a 429 in the first place. While it is closed a call is refused at once,
without touching the network, with a `TransientError` whose `retry_after` says when the gate opens: the outbox
worker reschedules the effect for that moment instead of hammering. The gate is per process; replicas do not share it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.domain.budget import BudgetShort, CloudflareBudget, current_kind, use_prepaid
from bot.domain.clock import Clock, SystemClock

# Seconds the gate stays closed after a 429 without a usable Retry-After.
DEFAULT_WAIT = 5.0
# The longest a 429 may close the gate: Cloudflare's window is 5 minutes, so no honest wait is longer.
MAX_WAIT = 300.0


class RateGate:
    """Open, or closed until a moment; shared by every call made with one API token."""

    def __init__(self, clock: Clock | None = None, *, default_wait: float = DEFAULT_WAIT,
                 max_wait: float = MAX_WAIT) -> None:
        self._clock = clock or SystemClock()
        self.default_wait = default_wait
        self.max_wait = max_wait
        self._open_at: datetime | None = None

    def wait_left(self) -> float:
        """Seconds until calls may go out again (0.0 when the gate is open)."""
        if self._open_at is None:
            return 0.0
        left = (self._open_at - self._clock.now()).total_seconds()
        if left <= 0:
            self._open_at = None
            return 0.0
        return left

    def close(self, retry_after: float | None) -> float:
        """A 429 arrived: close for `retry_after` seconds (default if None, capped); returns the wait."""
        wait = self.default_wait if retry_after is None else retry_after
        wait = min(self.max_wait, max(0.0, wait))
        left = self.wait_left()
        if wait > left:
            self._open_at = self._clock.now() + timedelta(seconds=wait)
            return wait
        return left


async def spend_slot(budget: CloudflareBudget | None, op: str, max_wait: float,
                     sleep: Callable[[float], Awaitable[Any]]) -> None:
    """Take one call's slot from `budget` (unless the caller booked it already: `spending(prepaid=...)`) and
    sleep until it comes; a call the budget refuses is asked for again after the wait it was told, and after
    `max_wait` seconds of that it raises BudgetShort (nothing was sent)."""
    if budget is None or use_prepaid():
        return
    waited = 0.0
    while True:
        try:
            wait = await budget.take(1, current_kind())
        except BudgetShort as exc:
            retry = exc.retry_after or 0.0
            if waited + retry > max_wait:
                raise BudgetShort(f"{op} not sent: {exc}", retry_after=retry) from None
            waited += retry
            await sleep(retry)
            continue
        if wait > 0:
            await sleep(wait)
        return


__all__ = ["DEFAULT_WAIT", "MAX_WAIT", "RateGate", "spend_slot"]
