"""Scheduled starts on SQLite and PostgreSQL: the start column round-trips, the due-start query and the scheduler's
wake-up time see it, and two schedulers (two replicas on one database) apply a start once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.domain.model import RequestState
from bot.services import requests, scheduled
from tests.core_harness import Core, make_core

HOUR = timedelta(hours=1)


@pytest.fixture
async def pair(database_url: str) -> AsyncIterator[tuple[Core, Core]]:
    """Two cores (replicas) on one database, their clocks at 2026-01-01 09:00 UTC."""
    a = await make_core(database_url)
    b = await make_core(database_url)
    yield a, b
    for c in (a, b):
        await c.scheduler.drain()
        await c.deps.store.engine.dispose()


async def test_a_scheduled_request_stores_its_start_and_the_scheduler_wakes_for_it(pair: tuple[Core, Core]) -> None:
    a, _ = pair
    out = await requests.submit(a.deps, "U0ALICE", "shared-a", HOUR, "", start="2026-01-01T10:00Z")
    assert out.key == "auto_scheduled"
    await a.settle()  # the notices owed now are done: the start is the next thing due
    async with a.deps.store.tx() as tx:
        req = await tx.requests.get(out.request_id)
        assert req is not None and req.state is RequestState.SCHEDULED
        assert req.starts_at == a.clock.now() + HOUR
        assert await tx.requests.due_starts(a.clock.now()) == []
        assert await tx.requests.due_starts(a.clock.now() + HOUR) == [req.id]
        assert await tx.next_due() == req.starts_at


async def test_two_schedulers_apply_a_scheduled_start_once(pair: tuple[Core, Core]) -> None:
    a, b = pair
    out = await requests.submit(a.deps, "U0ALICE", "shared-a", HOUR, "", start="2026-01-01T10:00Z")
    for c in pair:
        c.clock.advance(HOUR)
    results = await asyncio.gather(*(scheduled.start_scheduled(c.deps, out.request_id) for c in (a, b, a, b)))
    assert sorted(results) == ["", "", "", "applied"]
    await asyncio.gather(a.scheduler.tick(), b.scheduler.tick())
    async with a.deps.store.tx() as tx:
        made = await tx.grants.find(request_id=out.request_id)
        applied = await tx.audit.rows(action="grant.started")
    assert len(made) == 1 and len(applied) == 1


async def test_the_scheduler_tick_applies_a_due_start_and_the_grant_becomes_active(pair: tuple[Core, Core]) -> None:
    a, _ = pair
    out = await requests.submit(a.deps, "U0ALICE", "shared-a", HOUR, "", start="2026-01-01T09:30Z")
    await a.settle()
    async with a.deps.store.tx() as tx:
        assert await tx.grants.find(request_id=out.request_id) == []
    a.clock.advance(timedelta(minutes=30))
    await a.settle()
    async with a.deps.store.tx() as tx:
        [grant] = await tx.grants.find(request_id=out.request_id)
    assert grant.state.value == "active" and grant.expires_at == a.clock.now() + HOUR


async def test_a_start_slack_cannot_confirm_waits_before_it_is_tried_again(pair: tuple[Core, Core],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.domain.errors import TransientError
    a, _ = pair
    out = await requests.submit(a.deps, "U0ALICE", "shared-a", HOUR, "", start="2026-01-01T09:30Z")
    asked: list[str] = []
    real = a.directory.user_profile

    async def down(user_id: str) -> dict:
        asked.append(user_id)
        raise TransientError("slack is down")
    monkeypatch.setattr(a.directory, "user_profile", down)
    a.clock.advance(timedelta(minutes=30))
    await a.scheduler.tick()
    await a.scheduler.tick()
    assert asked == ["U0ALICE"]  # the second tick left it alone: it waits START_RETRY seconds
    monkeypatch.setattr(a.directory, "user_profile", real)
    a.scheduler.timers._start_retry.clear()  # noqa: SLF001 - the wait is on the loop's monotonic clock
    await a.settle()
    async with a.deps.store.tx() as tx:
        req = await tx.requests.get(out.request_id)
    assert req is not None and req.state is RequestState.APPROVED
