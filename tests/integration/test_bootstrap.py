"""The composition root: `wire` uses the ports it is given, builds the rest from the settings, and schedules the
periodic drift check only when its interval is not zero."""

from __future__ import annotations

from datetime import timedelta

from bot.bootstrap import open_store, slack_client, wire
from bot.cloudflare.client import CloudflareClient
from bot.config.policy_file import parse_policy
from bot.config.settings import Settings
from bot.credentials import CredentialHealth
from bot.domain.clock import ManualClock
from bot.slack.directory import SlackDirectory
from bot.slack.paced_client import PacedWebClient
from bot.storage.migrate import current, head
from tests.core_harness import POLICY
from tests.fakes import FakeDirectory, FakeGroups


def settings(database_url: str, **values: object) -> Settings:
    return Settings(_env_file=None, database_url=database_url, **values)  # type: ignore[call-arg]


async def test_open_store_migrates_the_database_unless_told_not_to(database_url: str) -> None:
    clock = ManualClock()
    bare = await open_store(database_url, clock, migrate=False)
    try:
        assert await current(bare.engine) is None
    finally:
        await bare.engine.dispose()
    store = await open_store(database_url, clock)
    try:
        assert await current(store.engine) == head() and store.clock is clock
    finally:
        await store.engine.dispose()


async def test_wire_uses_the_ports_it_is_given_and_owns_nothing_it_did_not_build(database_url: str) -> None:
    groups, directory, clock = FakeGroups(), FakeDirectory(), ManualClock()
    wiring = await wire(settings(database_url, accessbot_filing_limit=3), parse_policy(POLICY), clock=clock,
                        groups=groups, directory=directory)
    try:
        deps = wiring.deps
        assert deps.groups is groups and deps.directory is directory and deps.clock is clock
        assert deps.store.clock is clock and deps.filing_limit.count == 3
        assert wiring.scheduler.deps is deps and wiring.scheduler.locker is wiring.locker
        assert wiring.owned == []
        # the drift check every hour and the retention prune every hour (30 days kept), by default
        assert [(j.name, j.interval) for j in wiring.scheduler.jobs] == [("reconcile", timedelta(hours=1)),
                                                                        ("retention", timedelta(hours=1))]
    finally:
        await deps.store.engine.dispose()


async def test_wire_builds_the_cloudflare_client_and_slack_directory_from_the_settings_and_closes_what_it_built(
        database_url: str) -> None:
    store = await open_store(database_url, ManualClock())
    wiring = await wire(settings(database_url, cloudflare_api_url="http://127.0.0.1:9/client/v4",
                                 accessbot_reconcile_interval=timedelta(0), accessbot_retention="0"),
                       parse_policy(POLICY), store=store)
    try:
        assert isinstance(wiring.deps.groups, CloudflareClient)
        assert wiring.deps.groups.base_url == "http://127.0.0.1:9/client/v4"
        assert isinstance(wiring.deps.directory, SlackDirectory)
        assert wiring.deps.store is store and wiring.deps.clock is store.clock
        assert wiring.owned == [wiring.deps.groups] and wiring.scheduler.jobs == []
        await wiring.close_clients()
        assert wiring.deps.groups._http.is_closed  # noqa: SLF001 - closed by the root that built it
    finally:
        await store.engine.dispose()


def test_the_slack_client_is_paced_at_the_share_of_slacks_limits_the_settings_give() -> None:
    settings = Settings(_env_file=None, slack_bot_token="xoxb-1",  # type: ignore[call-arg]
                        accessbot_slack_rate_share=0.25)
    client = slack_client(settings, CredentialHealth())
    assert isinstance(client, PacedWebClient) and client.pacer.share == 0.25
