"""Slack work at Slack's pace: the simulator enforces Slack's documented limits when asked, the bot's paced
client stays inside them and keeps a 429 to its method (or channel), and many conversations drain at once while
each one keeps its order (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.bootstrap import wire
from bot.config.policy_file import parse_policy
from bot.domain.clock import ManualClock
from bot.domain.effects import NotifyUser, dm_key
from bot.domain.errors import TransientError
from bot.scheduler import MAX_WORKERS
from bot.simulators.slack_sim import SlackSimulator
from bot.slack.paced_client import PacedWebClient
from bot.slack.pacer import NOT_SENT, SlackPacer
from tests.core_harness import POLICY, core_ports, core_settings, make_core
from tests.fakes import RecordingMessenger


@pytest.fixture
async def sim():  # noqa: ANN201
    async with SlackSimulator() as s:
        for i in range(60):
            s.add_user(f"U{i:04d}", email=f"p{i}@example.com")
        yield s


async def test_the_strict_simulator_answers_429_with_retry_after_past_a_methods_limit(sim: SlackSimulator) -> None:
    sim.rates.enabled = True
    client = AsyncWebClient(token=sim.token, base_url=sim.base_url)
    ts = (await client.chat_postMessage(channel="C1", text="x"))["ts"]
    refused = None
    for _ in range(20):  # chat.update is Tier 3: its burst is a few calls, then 50 a minute
        try:
            await client.chat_update(channel="C1", ts=ts, text="y")
        except SlackApiError as exc:
            refused = exc.response
            break
    assert refused is not None and refused.status_code == 429 and refused["error"] == "ratelimited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert sim.rates.limited == [("chat.update", None)]
    await client.chat_postMessage(channel="U0001", text="another method still answers")


async def test_the_simulator_limits_posts_per_channel_and_is_off_unless_asked(sim: SlackSimulator) -> None:
    client = AsyncWebClient(token=sim.token, base_url=sim.base_url)
    for _ in range(10):
        await client.chat_postMessage(channel="C1", text="off: no limit")
    sim.rates.enabled = True
    sim.rates.reset()
    with pytest.raises(SlackApiError) as caught:
        for _ in range(10):
            await client.chat_postMessage(channel="C2", text="one channel")
    assert caught.value.response.status_code == 429
    assert sim.rates.limited == [("chat.postMessage", "C2")]
    await client.chat_postMessage(channel="C3", text="another channel goes")


async def test_the_paced_client_gets_no_429_from_the_strict_simulator(sim: SlackSimulator) -> None:
    sim.rates.enabled = True
    client = PacedWebClient(token=sim.token, base_url=sim.base_url, pacer=SlackPacer())
    started = time.monotonic()
    async def one_channel() -> None:
        for i in range(7):
            await client.chat_postMessage(channel="C1", text=f"n{i}")

    # seven posts in one channel and 33 DMs at once: past both of Slack's bursts (three in a channel, 30 + 1)
    await asyncio.gather(one_channel(), *(client.chat_postMessage(channel=f"U{i:04d}", text="dm") for i in range(33)))
    assert sim.rates.limited == []
    assert len(sim.messages("C1")) == 7
    assert time.monotonic() - started >= 3.5  # paced: one a second in C1 after its burst of three


async def test_a_429_closes_only_its_method_and_the_next_call_is_refused_without_reaching_slack(
        sim: SlackSimulator) -> None:
    client = PacedWebClient(token=sim.token, base_url=sim.base_url, pacer=SlackPacer())
    ts = (await client.chat_postMessage(channel="C1", text="x"))["ts"]
    sim.fail_next("chat.update", retry_after=30)
    for _ in range(2):
        with pytest.raises(SlackApiError) as caught:
            await client.chat_update(channel="C1", ts=ts, text="y")
        assert caught.value.response.status_code == 429
        assert 29 <= int(caught.value.response.headers["Retry-After"]) <= 30
    assert sim.count("chat.update") == 1  # the second was answered by the pacer, not sent
    await client.chat_postMessage(channel="U0001", text="a DM still goes")
    assert sim.dms_to("U0001")[-1]["text"] == "a DM still goes"
    assert client.pacer.limited == 1


class SlowMessenger(RecordingMessenger):
    """Each DM takes 300 ms, like a slow Slack; records how many were in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most = 0

    async def notify_user(self, effect: NotifyUser) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0.3)
        self.in_flight -= 1
        await super().notify_user(effect)


async def test_many_conversations_drain_at_once_while_each_keeps_its_order(database_url: str) -> None:
    messenger = SlowMessenger()
    groups, directory = core_ports()
    wiring = await wire(core_settings(database_url), parse_policy(POLICY), clock=ManualClock(), groups=groups,
                        directory=directory, messenger=lambda _deps: messenger, seed=1)
    try:
        async with wiring.deps.store.tx() as tx:
            for n in range(5):
                await tx.outbox.owe(NotifyUser("U0ALICE", "approved", grant_id=f"g-{n}"))
            for i in range(20):
                await tx.outbox.owe(NotifyUser(f"U0P{i:03d}", "approved", grant_id=f"g-p{i}"))
        await wiring.scheduler.run_until_idle()
    finally:
        await wiring.deps.store.engine.dispose()
    assert len(messenger.sent) == 25
    assert MAX_WORKERS["other"] >= messenger.most > 2  # conversations in parallel, up to the Slack workers
    alice = [e.grant_id for e in messenger.sent if e.user == "U0ALICE"]
    assert alice == [f"g-{n}" for n in range(5)]  # one conversation: one by one, in the order owed


async def test_a_notice_the_pacer_held_back_waits_its_turn_without_counting_as_a_failure(database_url: str) -> None:
    core = await make_core(database_url)
    try:
        def held_back(effect: Any) -> None:
            if effect.user == "U0ALICE":
                raise TransientError("Slack: ratelimited_not_sent", status=429, retry_after=3,
                                     errors=[{"code": NOT_SENT, "message": NOT_SENT}])

        core.messenger.fail = held_back
        async with core.deps.store.tx() as tx:
            await tx.outbox.owe(NotifyUser("U0ALICE", "approved", grant_id="g-1"))
            await tx.outbox.owe(NotifyUser("U0BOB", "approved", grant_id="g-2"))
        await core.settle()
        assert [e.user for e in core.messenger.sent] == ["U0BOB"]
        async with core.deps.store.tx() as tx:
            [row] = await tx.outbox.pending_effects_for_key(dm_key("U0ALICE"))
        assert row.attempts == 0 and row.first_failed_at is None  # no failure: never given up for waiting
        assert row.next_at == core.clock.now() + timedelta(seconds=3)
        core.messenger.fail = None
        core.clock.advance(timedelta(seconds=3))
        await core.settle()
        assert [e.user for e in core.messenger.sent] == ["U0BOB", "U0ALICE"]
    finally:
        await core.deps.store.engine.dispose()
