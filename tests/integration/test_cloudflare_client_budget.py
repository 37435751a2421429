"""The Cloudflare client spends from the budget before every call, and a 429 drains the budget for every replica."""

from __future__ import annotations

import pytest

from bot.cloudflare.client import CloudflareClient
from bot.domain.budget import BudgetPolicy, BudgetShort, CallKind, MemoryBudget, spending
from bot.domain.clock import ManualClock
from bot.simulators.cloudflare_sim import CloudflareSimulator
from tests.policies import ACCOUNT

TOKEN = "cf-budget-client-token"
GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"


async def test_every_call_spends_and_a_read_past_its_wait_is_not_sent(sim: CloudflareSimulator) -> None:
    sim.add_group(ACCOUNT, GROUP, name="g")
    budget = MemoryBudget(BudgetPolicy(calls=100, window=100.0, burst=3, reserve=0), ManualClock())
    assert sim.base_url is not None
    async with CloudflareClient(sim.base_url, TOKEN, budget=budget, budget_wait=0.0) as client:
        for _ in range(3):
            await client.get_group(ACCOUNT, GROUP)
        with pytest.raises(BudgetShort, match="not sent"):
            await client.get_group(ACCOUNT, GROUP)
        with spending(CallKind.READ, prepaid=1):  # a write booked by the scheduler
            await client.get_group(ACCOUNT, GROUP)
    assert len(sim.calls) == 4


async def test_a_429_drains_the_shared_budget_until_retry_after(sim: CloudflareSimulator) -> None:
    sim.add_group(ACCOUNT, GROUP, name="g")
    budget = MemoryBudget(BudgetPolicy(), ManualClock())
    sim.fail_next(1, status=429, retry_after=40, method="GET")
    assert sim.base_url is not None
    async with CloudflareClient(sim.base_url, TOKEN, budget=budget) as client:
        with pytest.raises(Exception, match="429"):
            await client.get_group(ACCOUNT, GROUP)
    with pytest.raises(BudgetShort) as short:
        await budget.take(1, CallKind.REMOVAL)  # what another replica would see
    assert short.value.retry_after == pytest.approx(40.0)
