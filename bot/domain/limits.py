"""How fast one person may file requests: at most `count` filings in any `window`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class FilingLimit:
    """At most `count` requests and extensions filed by one person in any `window`; count 0 = no limit."""

    count: int = 10
    window: timedelta = timedelta(minutes=10)

    @property
    def enabled(self) -> bool:
        """False when the limit is switched off."""
        return self.count > 0 and self.window > timedelta(0)


def next_filing_at(limit: FilingLimit, recent: Sequence[datetime], now: datetime) -> datetime | None:
    """When the person may file again, or None when they may now.

    `recent` holds the times of their filings since `now - window` (any order). Once `count` of them
    fall in the window, the next one is allowed when the oldest of the newest `count` leaves it."""
    if not limit.enabled:
        return None
    start = now - limit.window
    inside = sorted((at for at in recent if at > start), reverse=True)
    if len(inside) < limit.count:
        return None
    return inside[limit.count - 1] + limit.window
