"""The in-flight work's limit: full at the limit, never full without one, the asking task not counted."""

from __future__ import annotations

import asyncio

from bot.slack.in_flight import InFlight


async def test_full_once_the_limit_of_tasks_is_running_and_not_after_they_finish() -> None:
    in_flight = InFlight(limit=2)
    release = asyncio.Event()
    in_flight.track(release.wait())
    assert not in_flight.full
    in_flight.track(release.wait())
    assert in_flight.full
    release.set()
    await in_flight.drain(1)
    assert not in_flight.full and len(in_flight) == 0


async def test_without_a_limit_it_is_never_full() -> None:
    in_flight = InFlight()
    release = asyncio.Event()
    for _ in range(1000):
        in_flight.track(release.wait())
    assert not in_flight.full
    release.set()
    await in_flight.drain(1)


async def test_a_tracked_task_asking_does_not_count_itself() -> None:
    in_flight = InFlight(limit=2)
    release = asyncio.Event()
    in_flight.track(release.wait())

    async def asks() -> tuple[bool, bool]:
        before = in_flight.full
        in_flight.track(release.wait())
        return before, in_flight.full

    assert await in_flight.track(asks()) == (False, True)
    release.set()
    await in_flight.drain(1)
