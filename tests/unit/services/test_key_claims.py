"""Which keys a scheduler tick gives workers to: in the order their work fell due, with no key jumping the queue."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot import scheduler
from bot.domain.effects import SyncGroup, group_key
from bot.scheduler import Scheduler
from tests.fake_outbox import FakeOutbox
from tests.fakes import RecordingMessenger
from tests.fakes_uow import FakeLocker
from tests.unit.services.world import ACCOUNT, GROUP, GROUP2, World, make_world


async def _owe_sync(world: World, group_id: str) -> None:
    """A removal owed to a group now, then a second passes."""
    async with world.store.tx() as tx:
        await tx.outbox.owe(SyncGroup(ACCOUNT, group_id, removal=True))
    world.clock.advance(timedelta(seconds=1))


async def test_a_key_whose_worker_finishes_while_the_due_keys_are_read_does_not_jump_the_queue(
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world()
    monkeypatch.setitem(scheduler.MAX_WORKERS, "cf", 1)  # one Cloudflare worker: who gets it next is the question
    sched = Scheduler(world.deps, FakeLocker(), RecordingMessenger(), seed=1)
    reached, gate = asyncio.Event(), asyncio.Event()
    real_get = world.groups.get_group

    async def gated_get(account_id: str, group_id: str) -> dict[str, Any]:
        reached.set()
        await gate.wait()
        return await real_get(account_id, group_id)
    monkeypatch.setattr(world.groups, "get_group", gated_get)

    await _owe_sync(world, GROUP)
    await _owe_sync(world, GROUP2)
    assert await sched._start_due_keys(world.clock.now()) == 1  # GROUP's write; GROUP2 waits for the worker
    await reached.wait()
    await _owe_sync(world, GROUP)  # more falls due on GROUP during its write: it is owed GROUP's next write

    # The next tick reads the due keys from a snapshot (as a database read does) and GROUP's worker commits and
    # finishes meanwhile: the list still shows GROUP's finished work as its oldest.
    real_tx, real_due_keys = world.store.tx, FakeOutbox.due_keys
    reads = iter([world.store.read])
    monkeypatch.setattr(world.store, "tx", lambda: next(reads, real_tx)())

    async def racing_due_keys(self: FakeOutbox, now: Any, **kw: Any) -> list[tuple[str, int]]:
        keys = await real_due_keys(self, now, **kw)
        gate.set()
        await asyncio.gather(*sched._tasks)
        return keys
    monkeypatch.setattr(FakeOutbox, "due_keys", racing_due_keys)

    assert await sched._start_due_keys(world.clock.now()) == 1
    assert sched._running_keys == {group_key(ACCOUNT, GROUP2)}  # the key that waited longest, not GROUP again
    await asyncio.gather(*sched._tasks)
