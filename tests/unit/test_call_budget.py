"""The bot's Cloudflare call budget on a fake clock: never past the window's budget, removals first, refill."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cloudflare.gate import spend_slot
from bot.domain.budget import (
    Bucket,
    BudgetPolicy,
    BudgetShort,
    CallKind,
    MemoryBudget,
    current_kind,
    kind_of_lane,
    spending,
    use_prepaid,
)
from bot.domain.clock import ManualClock
from bot.domain.lanes import LANE_CF_ADD, LANE_CF_REMOVE

POLICY = BudgetPolicy(calls=1100, window=300.0, burst=50, reserve=16, max_wait=30.0)


def test_the_default_budget_keeps_headroom_below_cloudflare_s_limits() -> None:
    p = BudgetPolicy()
    assert p.burst + p.rate * p.window == p.calls <= 1100 < 1200
    assert p.burst + p.rate < 200, "no second may reach the per-IP limit"


def test_a_full_bucket_gives_the_burst_at_once_then_removals_book_slots_at_the_refill_rate() -> None:
    bucket = POLICY.full(0.0)
    for _ in range(POLICY.burst):
        bucket, wait = POLICY.take(bucket, 1, CallKind.REMOVAL, 0.0)
        assert wait == 0.0
    bucket, wait = POLICY.take(bucket, 2, CallKind.REMOVAL, 0.0)
    assert wait == pytest.approx(2 / POLICY.rate), "the next write waits for its two slots"
    bucket, wait = POLICY.take(bucket, 2, CallKind.REMOVAL, 0.0)
    assert wait == pytest.approx(4 / POLICY.rate), "and the one after it queues behind"


def test_the_bucket_refills_with_time_up_to_the_burst() -> None:
    bucket = Bucket(0.0, 0.0)
    bucket, wait = POLICY.take(bucket, 1, CallKind.ADD, 100.0)
    assert wait == 0.0 and bucket.level == POLICY.burst - 1, "100 s refill far more than the burst: capped"
    empty = Bucket(-7.0, 10.0)
    later, wait = POLICY.take(empty, 1, CallKind.REMOVAL, 12.0)
    assert later.level == pytest.approx(-7.0 + 2 * POLICY.rate - 1)
    assert wait == pytest.approx(-later.level / POLICY.rate)


def test_when_the_budget_runs_short_adds_and_reads_wait_while_removals_still_book() -> None:
    bucket = Bucket(POLICY.reserve + 1.0, 0.0)
    with pytest.raises(BudgetShort) as read:
        POLICY.take(bucket, 2, CallKind.READ, 0.0)
    with pytest.raises(BudgetShort) as add:
        POLICY.take(bucket, 2, CallKind.ADD, 0.0)
    assert add.value.retry_after == pytest.approx(1 / POLICY.rate)
    assert read.value.retry_after > add.value.retry_after, "reads leave more for the others than adds do"
    after, wait = POLICY.take(bucket, 2, CallKind.REMOVAL, 0.0)
    assert wait == 0.0 and after.level == POLICY.reserve - 1


def test_a_removal_books_at_most_max_wait_ahead() -> None:
    deepest = -POLICY.max_wait * POLICY.rate
    bucket, wait = POLICY.take(Bucket(deepest + 2, 0.0), 2, CallKind.REMOVAL, 0.0)
    assert wait == pytest.approx(POLICY.max_wait)
    with pytest.raises(BudgetShort) as short:
        POLICY.take(bucket, 1, CallKind.REMOVAL, 0.0)
    assert short.value.retry_after == pytest.approx(1 / POLICY.rate)


def test_a_replica_whose_clock_is_behind_refills_nothing_and_moves_no_time_back() -> None:
    after, _ = POLICY.take(Bucket(10.0, 50.0), 1, CallKind.REMOVAL, 40.0)
    assert after == Bucket(9.0, 50.0)


@pytest.mark.parametrize("bad", [dict(burst=0), dict(burst=1100), dict(window=0.0), dict(reserve=-1)])
def test_a_budget_that_cannot_work_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        BudgetPolicy(**bad)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 3), st.integers(1, 2), st.sampled_from(list(CallKind))), max_size=400))
def test_calls_made_at_their_slots_never_exceed_the_budget_in_any_window(asks: list) -> None:
    """Whatever the mix of takes, the calls (each made when its slot comes) fit `calls` in any `window`."""
    policy = BudgetPolicy(calls=60, window=30.0, burst=10, reserve=3, max_wait=20.0)
    bucket, now, calls = policy.full(0.0), 0.0, []
    for gap, n, kind in asks:
        now += gap
        try:
            bucket, wait = policy.take(bucket, n, kind, now)
        except BudgetShort:
            continue
        calls += [now + wait] * n
    calls.sort()
    for i, start in enumerate(calls):
        in_window = sum(1 for c in calls[i:] if c < start + policy.window)
        assert in_window <= policy.calls


async def test_memory_budget_spends_on_its_clock() -> None:
    clock = ManualClock()
    budget = MemoryBudget(BudgetPolicy(calls=100, window=100.0, burst=2, reserve=0), clock)
    assert await budget.take(2, CallKind.ADD) == 0.0
    with pytest.raises(BudgetShort):
        await budget.take(1, CallKind.ADD)
    clock.advance(timedelta(seconds=2))  # 0.98 a second
    assert await budget.take(1, CallKind.ADD) == 0.0


def test_calls_are_reads_unless_said_and_prepaid_slots_are_used_once_each() -> None:
    assert current_kind() is CallKind.READ and not use_prepaid()
    with spending(CallKind.REMOVAL, prepaid=2):
        assert current_kind() is CallKind.REMOVAL
        assert [use_prepaid() for _ in range(3)] == [True, True, False]
    assert current_kind() is CallKind.READ
    assert kind_of_lane(LANE_CF_REMOVE) is CallKind.REMOVAL and kind_of_lane(LANE_CF_ADD) is CallKind.ADD


class _Scripted:
    """A budget that answers from a script (a wait, or a BudgetShort's retry_after) and records what it was asked."""

    def __init__(self, answers: list[float | BudgetShort]) -> None:
        self.answers = answers
        self.asked: list[tuple[int, CallKind]] = []

    async def take(self, n: int, kind: CallKind) -> float:
        self.asked.append((n, kind))
        answer = self.answers.pop(0)
        if isinstance(answer, BudgetShort):
            raise answer
        return answer


async def test_a_client_call_waits_for_its_slot_and_asks_again_when_told_to() -> None:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    budget = _Scripted([BudgetShort("short", retry_after=1.5), 0.25])
    with spending(CallKind.ADD):
        await spend_slot(budget, "GET group g", 10.0, sleep)
    assert slept == [1.5, 0.25] and budget.asked == [(1, CallKind.ADD), (1, CallKind.ADD)]


async def test_a_client_call_gives_up_past_its_wait_and_prepaid_calls_take_nothing() -> None:
    budget = _Scripted([BudgetShort("short", retry_after=8.0), BudgetShort("short", retry_after=8.0)])
    with pytest.raises(BudgetShort) as short:
        await spend_slot(budget, "GET group g", 10.0, lambda s: asyncio.sleep(0))
    assert "GET group g not sent" in str(short.value) and short.value.retry_after == 8.0
    empty = _Scripted([])
    with spending(CallKind.REMOVAL, prepaid=1):
        await spend_slot(empty, "PUT group g", 10.0, lambda s: asyncio.sleep(0))
    assert empty.asked == []
    await spend_slot(None, "GET group g", 10.0, lambda s: asyncio.sleep(0))  # no budget: nothing to spend


def test_a_429_blocks_every_kind_until_retry_after_then_the_bucket_is_as_it_was() -> None:
    drained = POLICY.drain(POLICY.full(0.0), 60.0, 0.0)
    for kind in CallKind:
        with pytest.raises(BudgetShort) as short:
            POLICY.take(drained, 1, kind, 10.0)
        assert short.value.retry_after == pytest.approx(50.0)
    after, wait = POLICY.take(drained, 2, CallKind.ADD, 60.0)
    assert wait == 0.0 and after.level == POLICY.burst - 2
    assert POLICY.drain(drained, 5.0, 1.0).blocked_until == 60.0, "a shorter Retry-After does not shorten a block"
