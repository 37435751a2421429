"""The scheduler under a short Cloudflare budget: a group's removal goes, an add waits (uncounted) for the budget;
a write that waits for its slot carries what fell due meanwhile (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from bot.bootstrap import wire
from bot.config.policy_file import parse_policy
from bot.domain.budget import BudgetPolicy, CallKind, MemoryBudget
from bot.domain.clock import ManualClock
from bot.domain.effects import SyncGroup
from tests.core_harness import GROUP, GROUP2, POLICY, core_ports, core_settings
from tests.fakes import RecordingMessenger
from tests.policies import ACCOUNT

SHORT = BudgetPolicy(calls=100, window=100.0, burst=4, reserve=2, max_wait=10.0)  # 0.96 calls a second


async def _core(database_url: str, budget: MemoryBudget, clock: ManualClock):  # noqa: ANN202 - test wiring
    groups, directory = core_ports()
    messenger = RecordingMessenger()
    wiring = await wire(core_settings(database_url), parse_policy(POLICY), clock=clock, groups=groups,
                        directory=directory, messenger=lambda _d: messenger, seed=1, budget=budget)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # a booked slot's wait passes on the manual clock
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))
    wiring.scheduler.sleep = sleep
    return wiring, groups, slept


async def _pending(wiring, key: str) -> list:  # noqa: ANN001 - test helper
    async with wiring.deps.store.tx() as tx:
        return await tx.outbox.pending_effects_for_key(key)


async def test_under_a_short_budget_the_removal_goes_and_the_add_waits_for_the_budget(database_url: str) -> None:
    clock = ManualClock()
    budget = MemoryBudget(SHORT, clock)
    wiring, groups, _ = await _core(database_url, budget, clock)
    assert await budget.take(1, CallKind.REMOVAL) == 0.0  # 3 left: a write (2) fits a removal, not an add's reserve
    async with wiring.deps.store.tx() as tx:
        await tx.outbox.owe(SyncGroup(ACCOUNT, GROUP2))  # an add, owed first
        await tx.outbox.owe(SyncGroup(ACCOUNT, GROUP, removal=True))
    await wiring.scheduler.run_until_idle()
    assert groups.calls == [("GET", GROUP)], "only the removal's group was read"
    add_key = SyncGroup(ACCOUNT, GROUP2).key
    [waiting] = await _pending(wiring, add_key)
    assert waiting.attempts == 0 and waiting.next_at > clock.now(), "postponed, not failed"

    clock.advance(timedelta(seconds=5))  # the budget refills
    await wiring.scheduler.run_until_idle()
    assert groups.calls == [("GET", GROUP), ("GET", GROUP2)]
    assert await _pending(wiring, add_key) == []
    await wiring.deps.store.engine.dispose()


async def test_a_write_that_waits_for_its_slot_carries_what_fell_due_while_it_waited(database_url: str) -> None:
    clock = ManualClock()
    budget = MemoryBudget(SHORT, clock)
    wiring, groups, slept = await _core(database_url, budget, clock)
    assert await budget.take(4, CallKind.REMOVAL) == 0.0  # the bucket is empty: the next write waits ~2 s
    async with wiring.deps.store.tx() as tx:
        await tx.outbox.owe(SyncGroup(ACCOUNT, GROUP, removal=True))
        await tx.outbox.owe(SyncGroup(ACCOUNT, GROUP, removal=True), at=clock.now() + timedelta(seconds=1))
    await wiring.scheduler.run_until_idle()
    assert slept and slept[0] > 1.0
    assert groups.calls == [("GET", GROUP)], "one write for both syncs"
    assert await _pending(wiring, SyncGroup(ACCOUNT, GROUP).key) == []
    await wiring.deps.store.engine.dispose()
