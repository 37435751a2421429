"""Turns: acked work starts one listener at a time; the turn passes on at the end or after the grace."""

from __future__ import annotations

import asyncio

import pytest

from bot.polling import eventually
from bot.slack.turns import Turns


class Work:
    """Blocks run under a turn: which started, which ended; each waits for its own gate."""

    def __init__(self, turns: Turns) -> None:
        self.turns = turns
        self.started: list[int] = []
        self.ended: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}

    async def run(self, i: int, fail: bool = False) -> None:
        gate = self.gates.setdefault(i, asyncio.Event())
        async with self.turns.turn():
            self.started.append(i)
            await gate.wait()
            self.ended.append(i)
            if fail:
                raise RuntimeError("the listener failed")

    def start(self, n: int, **kwargs: bool) -> list[asyncio.Task]:
        return [asyncio.create_task(self.run(i, **kwargs)) for i in range(n)]


async def test_the_next_block_starts_as_soon_as_the_one_before_ends() -> None:
    work = Work(Turns(limit=16, grace=60))
    tasks = work.start(3)
    await asyncio.sleep(0.02)
    assert work.started == [0], "one at a time while the first works"
    work.gates[0].set()
    await eventually(lambda: work.started == [0, 1], timeout=1)
    for i in (1, 2):
        work.gates[i].set()
    await asyncio.gather(*tasks)
    assert work.started == work.ended == [0, 1, 2]


async def test_a_block_still_running_after_the_grace_lets_the_next_start_beside_it() -> None:
    work = Work(Turns(limit=16, grace=0.3))
    tasks = work.start(2)
    await asyncio.sleep(0.01)
    assert work.started == [0]
    await eventually(lambda: work.started == [0, 1], timeout=1)
    assert work.ended == [], "the first is still running: the second did not wait for it to end"
    for gate in work.gates.values():
        gate.set()
    await asyncio.gather(*tasks)


async def test_no_more_than_the_limit_run_at_once_however_long_they_take() -> None:
    work = Work(Turns(limit=2, grace=0.01))
    tasks = work.start(4)
    await eventually(lambda: len(work.started) == 2, timeout=1)
    await asyncio.sleep(0.05)
    assert work.started == [0, 1], "the third waits for a slot, not only for the turn"
    work.gates[0].set()
    await eventually(lambda: work.started == [0, 1, 2], timeout=1)
    for gate in work.gates.values():
        gate.set()
    await asyncio.gather(*tasks)


async def test_a_block_that_fails_passes_its_turn_on() -> None:
    work = Work(Turns(limit=16, grace=60))
    failing = asyncio.create_task(work.run(0, fail=True))
    await asyncio.sleep(0.01)
    after = asyncio.create_task(work.run(1))
    work.gates[0].set()
    with pytest.raises(RuntimeError):
        await failing
    await eventually(lambda: work.started == [0, 1], timeout=1)
    work.gates[1].set()
    await after


async def test_a_turn_passed_on_by_the_grace_is_not_passed_again_when_its_block_ends() -> None:
    work = Work(Turns(limit=16, grace=0.5))
    first = asyncio.create_task(work.run(0))
    await eventually(lambda: work.started == [0], timeout=1)
    await asyncio.sleep(0.6)  # the grace passed the turn on with nobody waiting: the turn is free
    second, third = asyncio.create_task(work.run(1)), asyncio.create_task(work.run(2))
    await eventually(lambda: work.started == [0, 1], timeout=1)
    work.gates[0].set()
    await first
    await asyncio.sleep(0.01)
    assert work.started == [0, 1], "the first block's end did not hand out a second turn"
    for gate in work.gates.values():
        gate.set()
    await asyncio.gather(second, third)
