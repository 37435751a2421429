"""Auditing rejected callers without letting a flood of them fill the audit log."""

from __future__ import annotations


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
