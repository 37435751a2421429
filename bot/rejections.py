"""Auditing rejected callers without letting a flood of them fill the audit log."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from bot.domain.audit import AuditEvent
from bot.services.context import Deps, record


class RejectionLimiter:
    """Audits at most `per_minute` rejected requests a minute, so a flood cannot fill the log. The ones
    left out are counted: the next audited one carries the count, and if none comes, a summary is audited
    `flush_after` seconds after the first left-out one (by default when its minute ends) or at shutdown."""

    def __init__(self, per_minute: int = 10, flush_after: float | None = None) -> None:
        self.per_minute = per_minute
        self.flush_after = flush_after
        self.window = 0
        self.count = 0
        self.suppressed = 0
        self.source = ""
        self._timer: asyncio.Task | None = None

    def allow(self, now: float) -> tuple[bool, int]:
        """(audit this one?, how many were suppressed before it)."""
        minute = int(now // 60)
        if minute != self.window:
            self.window, self.count = minute, 0
        self.count += 1
        if self.count > self.per_minute:
            self.suppressed += 1
            return False, 0
        suppressed, self.suppressed = self.suppressed, 0
        return True, suppressed

    def delay(self, now: float) -> float:
        """Seconds from `now` until the left-out count is written if no audited rejection carries it."""
        if self.flush_after is not None:
            return self.flush_after
        return (self.window + 1) * 60 - now + 0.5

    async def flush(self, deps: Deps) -> None:
        """Audit the count of left-out rejections now, if there is one (the timer calls it; so does shutdown)."""
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        suppressed, self.suppressed = self.suppressed, 0
        if suppressed:
            async with deps.store.tx() as tx:
                await record(deps, tx, AuditEvent("unknown", "auth.rejected", details={
                    "source": self.source, "why": f"{suppressed} more rejected request(s) were not audited one by one",
                    "suppressed_before": suppressed}))

    def arm(self, deps: Deps, now: float) -> None:
        """Start the timer that flushes the left-out count (once per run of left-out rejections)."""
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_later(deps, self.delay(now)))

    async def _flush_later(self, deps: Deps, delay: float) -> None:
        await asyncio.sleep(delay)
        with contextlib.suppress(Exception):  # a database hiccup: the count rides on the next audited one
            await self.flush(deps)


async def audit_rejection(deps: Deps, limiter: RejectionLimiter, details: dict[str, Any]) -> None:
    """Audit one rejected caller as `auth.rejected`, unless this minute's share is used up."""
    now = time.time()
    ok, suppressed = limiter.allow(now)
    if ok:
        async with deps.store.tx() as tx:
            await record(deps, tx, AuditEvent("unknown", "auth.rejected",
                                              details={**details, "suppressed_before": suppressed}))
    else:
        limiter.source = str(details.get("source", ""))
        limiter.arm(deps, now)
