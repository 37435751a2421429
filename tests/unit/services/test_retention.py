"""Retention: done effects and delivery keys older than it are pruned in batches; the rest stays.

The same tests run against the SQL store in tests/integration/test_repository_contract.py."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bot.domain.audit import AuditEvent
from bot.domain.clock import ManualClock
from bot.domain.retention import RETENTION_FLOOR
from bot.services.retention import Pruned, prune
from tests.fakes_uow import FakeStore

DAY = timedelta(days=1)


@pytest.fixture
def store() -> FakeStore:
    """An empty in-memory store on a manual clock."""
    return FakeStore(ManualClock())

# Every test below takes any UnitOfWorkFactory with a ManualClock as `store` (typed FakeStore for brevity).


def _deps(store: FakeStore) -> Any:
    """What prune uses of the Deps: the store and its clock."""
    return SimpleNamespace(store=store, clock=store.clock)


async def _effect(store: FakeStore, key: str, state: str | None) -> None:
    """Owe an effect under `key` and, unless `state` is None (pending), finish it as `state` now."""
    async with store.tx() as tx:
        await tx.outbox.enqueue("notify.user", {"user": "U1"}, key=key)
    if state is not None:
        async with store.tx() as tx:
            [effect] = await tx.outbox.pending_effects_for_key(key)
            await tx.outbox.finish_effects([effect.id], state)


async def _keys_left(store: FakeStore) -> dict[str, str]:
    """Each remaining effect's key and state."""
    left = {}
    async with store.tx() as tx:
        for effect_id in range(1, 100):
            effect = await tx.outbox.effect(effect_id)
            if effect is not None:
                left[effect.key] = effect.state
    return left


async def test_prune_deletes_only_done_effects_older_than_the_retention_in_batches(store: FakeStore) -> None:
    for i in range(5):
        await _effect(store, f"old-done-{i}", "done")
    await _effect(store, "old-dead", "dead")
    await _effect(store, "old-pending", None)
    store.clock.advance(31 * DAY)
    await _effect(store, "new-done", "done")
    pruned = await prune(_deps(store), 30 * DAY, batch=2)  # 5 old done effects: batches of 2, 2 and 1
    assert pruned == Pruned(effects=5, deliveries=0)
    assert await _keys_left(store) == {"old-dead": "dead", "old-pending": "pending", "new-done": "done"}
    assert await prune(_deps(store), 30 * DAY) == Pruned(0, 0)


async def test_prune_forgets_delivery_keys_older_than_the_retention_and_keeps_the_newer(store: FakeStore) -> None:
    async with store.tx() as tx:
        assert await tx.deliveries.first("event:old-1") and await tx.deliveries.first("event:old-2")
    store.clock.advance(2 * DAY)
    async with store.tx() as tx:
        assert await tx.deliveries.first("event:new")
    assert await prune(_deps(store), DAY, batch=1) == Pruned(effects=0, deliveries=2)
    async with store.tx() as tx:
        assert await tx.deliveries.first("event:old-1")  # forgotten: a new delivery
        assert not await tx.deliveries.first("event:new")  # still known: a repeat


async def test_a_replay_within_the_signature_window_is_still_refused_after_a_prune(store: FakeStore) -> None:
    async with store.tx() as tx:
        assert await tx.deliveries.first("signed:abc")
    store.clock.advance(RETENTION_FLOOR - timedelta(seconds=1))
    # even a retention below the floor (the setting refuses one) keeps a key for the whole replay window
    for retention in (RETENTION_FLOOR, timedelta(seconds=1)):
        assert await prune(_deps(store), retention) == Pruned(0, 0)
    async with store.tx() as tx:
        assert not await tx.deliveries.first("signed:abc")


async def test_prune_never_touches_the_audit_log(store: FakeStore) -> None:
    async with store.tx() as tx:
        await tx.audit.append(AuditEvent("U1", "request.created"))
    await _effect(store, "done", "done")
    store.clock.advance(400 * DAY)
    assert await prune(_deps(store), DAY) == Pruned(1, 0)
    async with store.tx() as tx:
        assert [r["seq"] for r in await tx.audit.rows()] == [1]


async def test_the_retention_job_logs_how_many_rows_each_prune_deleted(
        store: FakeStore, caplog: pytest.LogCaptureFixture) -> None:
    from bot.retention import retention_job

    await _effect(store, "done", "done")
    async with store.tx() as tx:
        await tx.deliveries.first("event:1")
    store.clock.advance(2 * DAY)
    job = retention_job(_deps(store), DAY)
    assert (job.name, job.interval) == ("retention", timedelta(hours=1))
    with caplog.at_level(logging.INFO, logger="bot.retention"):
        await job.run()
    assert [r.getMessage() for r in caplog.records if r.name == "bot.retention"] == [
        "pruned 1 done effect(s) and 1 delivery key(s) older than 1d"]


async def test_prune_pauses_between_full_batches_so_other_transactions_get_in(store: FakeStore) -> None:
    for i in range(5):
        await _effect(store, f"old-done-{i}", "done")
    store.clock.advance(2 * DAY)
    commits: list[int] = []

    async def pause() -> None:
        commits.append(store.commits)

    assert await prune(_deps(store), DAY, batch=2, pause=pause) == Pruned(effects=5, deliveries=0)
    # after each full batch of effects (2, 2) a pause, none after the last short one, nor for the empty key prune
    assert len(commits) == 2 and commits[1] == commits[0] + 1


async def test_the_retention_jobs_pause_is_as_long_as_the_batch_took_within_bounds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import retention

    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(retention.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(retention.asyncio, "sleep", sleep)
    give_way = retention.GiveWay(least=0.002, most=0.25)
    for took in (0.03, 0.0, 5.0):
        now[0] += took
        await give_way()
    assert slept == [pytest.approx(0.03), 0.002, 0.25]


@pytest.mark.parametrize("one_writer", [True, False])
async def test_the_retention_job_prunes_sqlite_in_small_batches_that_give_way_and_postgresql_in_big_ones(
        store: FakeStore, monkeypatch: pytest.MonkeyPatch, one_writer: bool) -> None:
    from bot import retention

    asked: list[dict[str, Any]] = []

    async def prune_spy(deps: Any, kept: timedelta, **kwargs: Any) -> Pruned:
        asked.append(kwargs)
        return Pruned(0, 0)

    monkeypatch.setattr(retention, "prune", prune_spy)
    await retention.retention_job(_deps(store), DAY, one_writer=one_writer).run()
    if one_writer:
        [kwargs] = asked
        assert kwargs["batch"] == retention.ONE_WRITER_BATCH < 1000 and isinstance(kwargs["pause"], retention.GiveWay)
    else:
        assert asked == [{}]  # the default batch (PRUNE_BATCH), no pause
