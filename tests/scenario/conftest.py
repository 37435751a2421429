"""Fixtures for the scenario tests: a running stack per test, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.clock import ManualClock
from bot.simulators.stack import Stack, start_stack
from tests.scenario.helpers import BASE_POLICY, CAROL, DANA

StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
def clock() -> ManualClock:
    """The bot's clock: time moves only when a test says so."""
    return ManualClock()


@pytest.fixture
async def make_stack(database_url: str, clock: ManualClock) -> AsyncIterator[StackFactory]:
    """Start the whole bot (simulators, real aiohttp app, scheduler) on the test's database; stopped after."""
    stacks: list[Stack] = []

    async def _make(policy: str = BASE_POLICY, **kw: Any) -> Stack:
        kw.setdefault("clock", clock)
        kw.setdefault("max_sleep", 0.2)
        # The periodic drift check GETs every group at start; it is not under test here and would muddle
        # the Cloudflare call counts the tests make.
        kw.setdefault("settings_overrides", {"accessbot_reconcile_interval": timedelta(0)})
        stack = await start_stack(policy, database_url=database_url, **kw)
        stack.slack.add_usergroup("S0ENGINEERS", [CAROL, DANA])
        stacks.append(stack)
        return stack

    yield _make
    for stack in reversed(stacks):
        await stack.stop()


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    """The bot with the base policy (prod-db with approvals, staging auto-approved, secrets restricted)."""
    return await make_stack()
