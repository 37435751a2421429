"""Rejected callers are audited at most ten a minute; the next audited one says how many were left out."""

from __future__ import annotations

from bot.rejections import RejectionLimiter


def test_a_flood_is_audited_ten_a_minute_and_the_left_out_ones_are_counted() -> None:
    limiter = RejectionLimiter(per_minute=10)
    minute = 60 * 1000
    first = [limiter.allow(minute + i) for i in range(15)]
    assert [ok for ok, _ in first] == [True] * 10 + [False] * 5
    assert all(suppressed == 0 for _, suppressed in first)
    assert limiter.allow(minute + 60) == (True, 5), "the next minute's first one carries the count"
    assert limiter.allow(minute + 61) == (True, 0)
