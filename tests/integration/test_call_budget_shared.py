"""Two replicas on one database share the Cloudflare call budget: together they never book more than it holds
(SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.bootstrap import open_store
from bot.domain.budget import BudgetPolicy, BudgetShort, CallKind
from bot.domain.clock import ManualClock
from bot.storage.budget import SqlBudget
from bot.storage.store import Store

POLICY = BudgetPolicy(calls=20, window=10.0, burst=5, reserve=1, max_wait=5.0)  # refills 1.5 a second


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[list[Store], ManualClock]]:
    """Two stores (two engines, as two processes would have) on one database, on one manual clock."""
    clock = ManualClock()
    stores = [await open_store(database_url, clock), await open_store(database_url, clock, migrate=False)]
    yield stores, clock
    for s in stores:
        await s.engine.dispose()


async def _take_all(budget: SqlBudget, tries: int, kind: CallKind) -> list[float]:
    """The waits of the takes the budget granted, out of `tries`."""
    waits = []
    for _ in range(tries):
        with contextlib.suppress(BudgetShort):
            waits.append(await budget.take(1, kind))
        await asyncio.sleep(0)
    return waits


async def test_two_replicas_together_book_no_more_than_the_one_budget(
        replicas: tuple[list[Store], ManualClock]) -> None:
    stores, _ = replicas
    a, b = (SqlBudget(s, POLICY) for s in stores)
    got_a, got_b = await asyncio.gather(_take_all(a, 30, CallKind.REMOVAL), _take_all(b, 30, CallKind.REMOVAL))
    booked = sorted(got_a + got_b)
    # 5 at once, then 1.5 a second up to 5 s ahead: 12 slots in all, however the two replicas interleave (two
    # budgets of their own would have booked 24)
    assert len(booked) == 12, (got_a, got_b)
    assert booked[:5] == [0.0] * 5
    assert booked[5:] == pytest.approx([i / POLICY.rate for i in range(1, 8)]), "each slot booked once"


async def test_the_shared_budget_refills_and_keeps_the_removals_reserve(
        replicas: tuple[list[Store], ManualClock]) -> None:
    stores, clock = replicas
    a, b = (SqlBudget(s, POLICY) for s in stores)
    assert len(await _take_all(a, 10, CallKind.ADD)) == 4, "adds leave the reserve (1) for removals"
    with pytest.raises(BudgetShort):
        await b.take(1, CallKind.ADD)
    assert await b.take(1, CallKind.REMOVAL) == 0.0, "the reserve is the removals'"
    clock.advance(timedelta(seconds=2))  # 3 more: level 3, adds take it down to the reserve
    assert len(await _take_all(b, 10, CallKind.ADD)) == 2


async def test_a_429_seen_by_one_replica_holds_back_the_other(replicas: tuple[list[Store], ManualClock]) -> None:
    stores, clock = replicas
    a, b = (SqlBudget(s, POLICY) for s in stores)
    await a.drain(20.0)
    with pytest.raises(BudgetShort) as short:
        await b.take(1, CallKind.REMOVAL)
    assert short.value.retry_after == pytest.approx(20.0)
    clock.advance(timedelta(seconds=20))
    assert await b.take(1, CallKind.REMOVAL) == 0.0
