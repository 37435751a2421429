"""The composition root gives the Cloudflare client and the scheduler one shared, database-kept budget from the
settings; a fake Cloudflare port given to `wire` is not rationed."""

from __future__ import annotations

from datetime import timedelta

from bot.bootstrap import open_store, wire
from bot.cloudflare.client import CloudflareClient
from bot.config.policy_file import parse_policy
from bot.config.settings import Settings
from bot.domain.budget import CallKind
from bot.domain.clock import ManualClock
from bot.storage.budget import SqlBudget
from tests.core_harness import POLICY
from tests.fakes import FakeDirectory, FakeGroups


def _settings(database_url: str, **values: object) -> Settings:
    return Settings(_env_file=None, database_url=database_url, cloudflare_api_url="http://127.0.0.1:9/client/v4",
                    accessbot_reconcile_interval=timedelta(0), accessbot_retention="0", **values)  # type: ignore[call-arg]


async def test_the_client_and_the_scheduler_spend_from_one_budget_kept_in_the_database(database_url: str) -> None:
    store = await open_store(database_url, ManualClock())
    wiring = await wire(_settings(database_url, accessbot_cf_budget=600, accessbot_cf_burst=30),
                        parse_policy(POLICY), store=store)
    try:
        budget = wiring.deps.budget
        assert isinstance(budget, SqlBudget) and isinstance(wiring.deps.groups, CloudflareClient)
        assert wiring.deps.groups.budget is budget and budget.store is store
        assert (budget.policy.calls, budget.policy.burst, budget.policy.window) == (600, 30, 300.0)
        assert await budget.take(30, CallKind.REMOVAL) == 0.0
        assert await SqlBudget(store, budget.policy).take(1, CallKind.REMOVAL) > 0, "the row is shared"
        await wiring.close_clients()
    finally:
        await store.engine.dispose()


async def test_a_cloudflare_port_given_to_wire_is_not_rationed(database_url: str) -> None:
    wiring = await wire(_settings(database_url), parse_policy(POLICY), clock=ManualClock(), groups=FakeGroups(),
                        directory=FakeDirectory())
    try:
        assert wiring.deps.budget is None
    finally:
        await wiring.deps.store.engine.dispose()
