"""The Slack pacer (bot/slack/pacer.py) on a fake clock: Slack's documented rates per method and per channel,
bursts, a 429 closing only its method (or channel) for Retry-After, and a replica's share."""

from __future__ import annotations

import asyncio

import pytest

from bot.slack.pacer import (
    MAX_BUCKETS,
    MAX_CLOSED_WAIT,
    MAX_PACE_WAIT,
    METHOD_TIER,
    TIER_PER_MINUTE,
    RateLimited,
    SlackPacer,
    channel_limit,
    method_limit,
)


class FakeTime:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(share: float = 1.0) -> tuple[SlackPacer, FakeTime]:
    t = FakeTime()
    return SlackPacer(share, clock=t.clock, sleep=t.sleep), t


async def times_of(p: SlackPacer, t: FakeTime, method: str, n: int, channel: str | None = None) -> list[float]:
    """When each of n calls, made one after another, went out."""
    out = []
    for _ in range(n):
        await p.acquire(method, channel)
        out.append(t.now)
    return out


def test_the_table_holds_slacks_documented_tiers_for_the_methods_the_bot_calls() -> None:
    assert TIER_PER_MINUTE == {1: 1.0, 2: 20.0, 3: 50.0, 4: 100.0}
    assert METHOD_TIER["chat.update"] == 3 and METHOD_TIER["views.publish"] == 4
    assert METHOD_TIER["conversations.open"] == 3 and METHOD_TIER["users.info"] == 4
    assert METHOD_TIER["usergroups.users.list"] == 2
    assert method_limit("chat.postMessage").per_second == pytest.approx(5.0)  # 300 a minute, workspace-wide
    assert channel_limit().per_second == 1.0
    assert method_limit("some.unknown").per_second == pytest.approx(20 / 60)  # paced as Tier 2


async def test_chat_update_goes_out_at_fifty_a_minute_after_its_burst() -> None:
    p, t = pacer()
    sent = await times_of(p, t, "chat.update", 65)
    burst = method_limit("chat.update").burst
    assert sum(1 for s in sent if s == 1000.0) == int(burst)  # the burst at once
    window = [s for s in sent if s <= 1000.0 + 60]
    assert len(window) <= 50 + burst  # never more than a minute's rate plus the burst in any first minute
    gaps = [b - a for a, b in zip(sent[int(burst):], sent[int(burst) + 1:], strict=False)]
    assert min(gaps) == pytest.approx(60 / 50)


async def test_posts_to_one_channel_go_one_a_second_after_a_short_burst() -> None:
    p, t = pacer()
    sent = await times_of(p, t, "chat.postMessage", 8, channel="C1")
    assert sent[:3] == [1000.0] * 3
    assert [round(s - 1000.0, 6) for s in sent[3:]] == [1.0, 2.0, 3.0, 4.0, 5.0]


async def test_posts_to_many_channels_are_bound_by_the_workspace_wide_limit_not_by_each_channel() -> None:
    p, t = pacer()
    for i in range(330):
        await p.acquire("chat.postMessage", f"U{i:04d}")
    # 30 at once (six seconds' burst), then 5 a second: 300 more take 60 s
    assert t.now - 1000.0 == pytest.approx(60.0)


async def test_concurrent_callers_share_the_buckets_and_are_spread_out() -> None:
    p, t = pacer()
    starts: list[float] = []

    async def record(seconds: float) -> None:  # concurrent sleepers: each waits its own reservation
        starts.append(seconds)
        await asyncio.sleep(0)

    p._sleep = record  # noqa: SLF001 - the reservations are the point here, not the clock moving
    await asyncio.gather(*(p.acquire("chat.postMessage", "C1") for _ in range(5)))
    assert sorted(starts) == pytest.approx([1.0, 2.0])  # three of five went at once, the rest 1 s apart
    assert p.calls == 5 and t.now == 1000.0


async def test_a_429_closes_only_its_method_for_retry_after() -> None:
    p, t = pacer()
    p.limited_by_slack("chat.update", None, 30.0)
    with pytest.raises(RateLimited) as caught:
        await p.acquire("chat.update")
    assert caught.value.retry_after == pytest.approx(30.0)
    await p.acquire("chat.postMessage", "U1")  # another method goes at once
    await p.acquire("views.publish")
    assert t.now == 1000.0
    t.now += 30.5
    await p.acquire("chat.update")  # open again after Retry-After (its burst emptied: it waits for a token)
    assert p.limited == 1


async def test_a_429_on_a_post_closes_only_that_channel() -> None:
    p, t = pacer()
    p.limited_by_slack("chat.postMessage", "C1", 10.0)
    with pytest.raises(RateLimited):
        await p.acquire("chat.postMessage", "C1")
    await p.acquire("chat.postMessage", "U2")  # a DM to someone else is not held back
    assert t.now == 1000.0


async def test_a_short_retry_after_is_waited_for_rather_than_refused() -> None:
    p, t = pacer()
    p.limited_by_slack("views.publish", None, MAX_CLOSED_WAIT / 2)
    await p.acquire("views.publish")
    assert t.now >= 1000.0 + MAX_CLOSED_WAIT / 2


async def test_a_replica_with_half_the_share_goes_at_half_the_rate() -> None:
    p, t = pacer(share=0.5)
    assert method_limit("chat.update", 0.5).per_second == pytest.approx(50 / 60 / 2)
    sent = await times_of(p, t, "chat.update", 40)
    burst = int(method_limit("chat.update", 0.5).burst)
    assert sent[burst + 1] - sent[burst] == pytest.approx(2 * 60 / 50)


def test_a_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="share"):
        SlackPacer(0)
    with pytest.raises(ValueError, match="share"):
        SlackPacer(1.5)


async def test_retry_after_is_timed_on_the_retry_clock_and_pacing_on_the_real_one() -> None:
    t = FakeTime()
    bot_clock = [0.0]
    p = SlackPacer(clock=t.clock, sleep=t.sleep, retry_clock=lambda: bot_clock[0])
    p.limited_by_slack("chat.update", None, 30.0)
    assert p.closed_for("chat.update") == pytest.approx(30.0)
    t.now += 60  # the real clock moving does not open it
    assert p.closed_for("chat.update") == pytest.approx(30.0)
    bot_clock[0] += 30.0
    assert p.closed_for("chat.update") == 0.0
    await p.acquire("chat.update")


async def test_a_call_whose_turn_is_far_off_is_answered_later_at_once_without_taking_a_token() -> None:
    p, t = pacer()
    starts: list[float] = []

    async def record(seconds: float) -> None:
        starts.append(seconds)

    p._sleep = record  # noqa: SLF001 - concurrent callers: the clock does not move while they wait
    for _ in range(3 + int(MAX_PACE_WAIT)):  # the burst, then a reservation a second up to MAX_PACE_WAIT
        await p.acquire("chat.postMessage", "C1")
    with pytest.raises(RateLimited) as caught:
        await p.acquire("chat.postMessage", "C1")
    assert caught.value.retry_after == pytest.approx(MAX_PACE_WAIT + 1)
    assert p.deferred == 1 and p.calls == 3 + int(MAX_PACE_WAIT)
    waits = len(starts)
    await p.acquire("chat.postMessage", "U1")  # another conversation's turn is now
    assert len(starts) == waits


async def test_idle_channels_buckets_are_forgotten_and_start_full_again() -> None:
    p, t = pacer()
    for _ in range(4):
        await p.acquire("chat.postMessage", "C-busy")
    for i in range(MAX_BUCKETS):
        await p.acquire("chat.postMessage", f"U{i}")
        t.now += 0.2  # the workspace-wide pace
    assert len(p._buckets) <= MAX_BUCKETS  # noqa: SLF001
    assert ("chat.postMessage", "C-busy") not in p._buckets  # noqa: SLF001 - refilled long ago: forgotten
    before = t.now
    await p.acquire("chat.postMessage", "C-busy")  # a forgotten channel starts full again
    assert t.now == before
