"""A steady stream of expiries against the Cloudflare simulator at a lowered limit: with the budget, no 429 and
every removal within the physical bound (each group written every G x 2 / rate seconds), on each database;
without it, the same stream runs into the simulator's limit. Real time, a few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.bootstrap import open_store, wire
from bot.cloudflare.client import CloudflareClient
from bot.config.policy_file import parse_policy
from bot.domain.budget import BudgetPolicy
from bot.domain.clock import SystemClock
from bot.domain.model import Grant, GrantState
from bot.simulators.cloudflare_budget import Budget
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.storage.budget import SqlBudget
from bot.storage.store import Store
from tests.core_harness import core_settings
from tests.fakes import FakeDirectory, RecordingMessenger
from tests.policies import ACCOUNT, policy_text, role

TOKEN = "cf-steady-token"
GROUPS = ["0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f6" + str(i) for i in range(3)]
POLICY = policy_text({f"app-{i}": role(g, auto_approve=True, require_reason=False) for i, g in enumerate(GROUPS)},
                     defaults={"min_duration": "1s", "warn_before": "0"})
SIM_LIMIT = Budget(30, 10.0, block=10.0)  # Cloudflare's rule at a thirtieth: 30 calls in 10 s, then a 10 s block
BOT_BUDGET = BudgetPolicy(calls=26, window=10.0, burst=4, reserve=1, max_wait=10.0)  # refills 2.2 calls a second
PER_SECOND = 3.0  # expiries a second, one a second on each group: 6 calls a second unbatched
COUNT = 24


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A migrated database (each backend) on the real clock."""
    s = await open_store(database_url, SystemClock())
    yield s
    await s.engine.dispose()


async def _seed(store: Store, sim: CloudflareSimulator, start: datetime) -> None:
    """COUNT active grants, one expiring every 1/PER_SECOND s from `start`, round-robin over the groups."""
    now = datetime.now(UTC)
    async with store.tx() as tx:
        for i in range(COUNT):
            gid, email, expires = GROUPS[i % 3], f"p{i}@example.com", start + timedelta(seconds=i / PER_SECOND)
            g = Grant(f"g-S{i:05d}", f"r-S{i:05d}", f"app-{i % 3}", f"U0S{i:05d}", email, ACCOUNT, gid,
                      expires - now, now, state=GrantState.ACTIVE, granted_at=now, expires_at=expires)
            await tx.grants.add(g)
            await tx.grants.update(g.id, GrantState.ACTIVE, granted_at=now, expires_at=expires)
            await tx.members.add(ACCOUNT, gid, {email})
    for i, gid in enumerate(GROUPS):
        sim.add_group(ACCOUNT, gid, name=f"app {i}",
                      include=[{"email": {"email": f"p{j}@example.com"}} for j in range(i, COUNT, 3)])


async def _run(store: Store, sim: CloudflareSimulator, budget: SqlBudget | None, *, stop_on_429: bool) -> list[float]:
    """Run the bot's scheduler until every grant is revoked (or, when asked, a 429 came): the lags in seconds."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    await _seed(store, sim, start)
    assert sim.base_url is not None
    client = CloudflareClient(sim.base_url, TOKEN, timeout=5.0, budget=budget)
    messenger = RecordingMessenger()
    wiring = await wire(core_settings(str(store.engine.url)), parse_policy(POLICY), store=store, groups=client,
                        directory=FakeDirectory(), messenger=lambda _d: messenger, budget=budget, max_sleep=0.1)
    task = asyncio.create_task(wiring.scheduler.run())
    deadline = time.monotonic() + COUNT / PER_SECOND + 20
    try:
        while time.monotonic() < deadline:
            async with store.tx() as tx:
                counts = await tx.grants.counts_by_state()
            if counts.get(GrantState.REVOKED.value, 0) == COUNT or (stop_on_429 and _refused(sim)):
                break
            await asyncio.sleep(0.1)
    finally:
        await wiring.scheduler.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await client.aclose()
    async with store.tx() as tx:
        grants = await tx.grants.find()
    return [(g.revoked_at - g.expires_at).total_seconds() for g in grants if g.revoked_at and g.expires_at]


def _refused(sim: CloudflareSimulator) -> int:
    """How many calls the simulator answered 429."""
    return sum(1 for c in sim.calls if c.status == 429)


async def test_a_steady_stream_of_expiries_under_the_budget_gets_no_429_and_every_removal_within_the_bound(
        store: Store) -> None:
    async with CloudflareSimulator(TOKEN, token_budget=SIM_LIMIT) as sim:
        lags = await _run(store, sim, SqlBudget(store, BOT_BUDGET), stop_on_429=False)
        assert len(lags) == COUNT, "every grant was revoked"
        assert _refused(sim) == 0, [c for c in sim.calls if c.status == 429]
        bound = len(GROUPS) * 2 / BOT_BUDGET.rate  # each group written every G x 2 / rate seconds
        # at the bound plus one write (10 ms here); the rest is room for a loaded machine's scheduling
        assert max(lags) < bound + 0.5, (max(lags), bound)
        assert len(sim.calls) < 2 * COUNT, "expiries falling due while a group waited rode on one write"
        assert all(len(g["include"]) == 0 for g in (sim.group(ACCOUNT, gid) for gid in GROUPS))


async def test_without_the_budget_the_same_stream_runs_into_the_simulator_s_limit(store: Store) -> None:
    """The stream above is more than the lowered limit allows unrationed: the test above can fail."""
    async with CloudflareSimulator(TOKEN, token_budget=SIM_LIMIT) as sim:
        await _run(store, sim, None, stop_on_429=True)
        assert _refused(sim) >= 1
