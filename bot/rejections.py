"""Auditing rejected callers without letting a flood of them fill the audit log."""

from __future__ import annotations

import time
from typing import Any

from bot.domain.audit import AuditEvent
from bot.services.context import Deps, record


class RejectionLimiter:
    """Audits at most `per_minute` rejected requests a minute, so a flood cannot fill the log."""

    def __init__(self, per_minute: int = 10) -> None:
        self.per_minute = per_minute
        self.window = 0
        self.count = 0
        self.suppressed = 0

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


async def audit_rejection(deps: Deps, limiter: RejectionLimiter, details: dict[str, Any]) -> None:
    """Audit one rejected caller as `auth.rejected`, unless this minute's share is used up."""
    ok, suppressed = limiter.allow(time.time())
    if ok:
        async with deps.store.tx() as tx:
            await record(deps, tx, AuditEvent("unknown", "auth.rejected",
                                              details={**details, "suppressed_before": suppressed}))
