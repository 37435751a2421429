"""A flood of rejected callers that stops within the minute still has its left-out count audited: by a
timer when no further rejection carries it, and at shutdown."""

from __future__ import annotations

from bot.rejections import RejectionLimiter, audit_rejection
from bot.simulators.stack import Stack
from tests.scenario.helpers import audit, wait_until


async def _accounted(stack: Stack) -> int:
    rows = await audit(stack, "auth.rejected")
    one_by_one = [r for r in rows if "more rejected" not in r["details"]["why"]]
    return len(one_by_one) + sum(r["details"]["suppressed_before"] for r in rows)


async def test_a_flood_that_ends_within_the_minute_has_its_left_out_count_audited(stack: Stack) -> None:
    limiter = RejectionLimiter(per_minute=3, flush_after=0.2)
    for _ in range(11):
        await audit_rejection(stack.bot.deps, limiter, {"source": "slack", "why": "bad signature"})
    assert len(await audit(stack, "auth.rejected")) <= 3 + 1
    await wait_until(lambda: _accounted(stack), 5, "the left-out count")
    await wait_until(lambda: _count_is(stack, 11), 5, "all 11 accounted for")
    summary = [r for r in await audit(stack, "auth.rejected") if "more rejected" in r["details"]["why"]]
    assert len(summary) == 1 and summary[0]["details"]["source"] == "slack"


async def _count_is(stack: Stack, n: int) -> bool:
    return await _accounted(stack) == n


async def test_the_left_out_count_is_audited_at_shutdown(stack: Stack) -> None:
    limiter = RejectionLimiter(per_minute=2, flush_after=3600)
    for _ in range(7):
        await audit_rejection(stack.bot.deps, limiter, {"source": "api", "why": "no token"})
    assert await _accounted(stack) <= 2 + 1
    await limiter.flush(stack.bot.deps)
    assert await _accounted(stack) == 7
