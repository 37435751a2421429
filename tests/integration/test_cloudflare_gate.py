"""The Cloudflare client's token-wide gate: after a 429 no call with the token goes out before Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.cloudflare.client import CloudflareClient
from bot.cloudflare.gate import DEFAULT_WAIT, MAX_WAIT, RateGate
from bot.domain.clock import ManualClock
from bot.domain.errors import TransientError
from bot.domain.membership import email_rule
from bot.simulators.cloudflare_sim import CloudflareSimulator

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-gate-token"


@pytest.fixture
async def sim() -> AsyncIterator[CloudflareSimulator]:
    async with CloudflareSimulator(TOKEN) as simulator:
        yield simulator


def _client(sim: CloudflareSimulator, clock: ManualClock | None = None) -> CloudflareClient:
    assert sim.base_url is not None
    return CloudflareClient(sim.base_url, TOKEN, timeout=2.0, clock=clock)


async def test_after_a_429_on_one_group_no_call_for_another_group_or_revoke_user_goes_out_before_retry_after(
        sim: CloudflareSimulator) -> None:
    group_a = sim.add_group(ACCOUNT, name="A", include=[email_rule("ann@example.com")])
    group_b = sim.add_group(ACCOUNT, name="B")
    clock = ManualClock()
    async with _client(sim, clock) as cf:
        sim.fail_next(status=429, retry_after=30, path_contains=group_a["id"])
        with pytest.raises(TransientError) as first:
            await cf.put_group(ACCOUNT, group_a["id"], {"name": "A", "include": []})
        assert first.value.status == 429 and first.value.retry_after == 30
        sent = len(sim.calls)

        clock.advance(timedelta(seconds=29))
        for call in (cf.get_group(ACCOUNT, group_b["id"]),
                     cf.put_group(ACCOUNT, group_b["id"], {"name": "B", "include": []}),
                     cf.revoke_user(ACCOUNT, "ann@example.com"),
                     cf.list_groups(ACCOUNT),
                     cf.get_group(ACCOUNT, group_a["id"])):
            with pytest.raises(TransientError) as held:
                await call
            assert held.value.retry_after == pytest.approx(1.0)
            assert "was not sent" in str(held.value)
        assert len(sim.calls) == sent, "a call went out while the token was rate-limited"

        clock.advance(timedelta(seconds=1))
        assert (await cf.get_group(ACCOUNT, group_b["id"]))["name"] == "B"
        await cf.revoke_user(ACCOUNT, "ann@example.com")
    assert [c.status for c in sim.calls[sent:]] == [200, 200]


async def test_in_real_time_the_next_call_for_another_endpoint_arrives_only_after_retry_after(
        sim: CloudflareSimulator) -> None:
    group_a = sim.add_group(ACCOUNT, name="A")
    group_b = sim.add_group(ACCOUNT, name="B")
    async with _client(sim) as cf:
        sim.fail_next(status=429, retry_after=1, method="PUT", path_contains=group_a["id"])
        with pytest.raises(TransientError):
            await cf.put_group(ACCOUNT, group_a["id"], {"name": "A", "include": []})
        limited_at = sim.calls[-1].at
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # a caller that keeps trying, as fast as it can
            try:
                await cf.revoke_user(ACCOUNT, "ann@example.com")
                await cf.get_group(ACCOUNT, group_b["id"])
                break
            except TransientError as exc:
                assert exc.status is None and exc.retry_after is not None and 0 < exc.retry_after <= 1
                await asyncio.sleep(0.01)
    after = sim.calls[1:]
    assert [c.status for c in after] == [200, 200]
    assert after[0].at - limited_at >= 1.0, "revoke_user went out before Retry-After had passed"


async def test_an_absurd_retry_after_is_capped_and_a_missing_one_gets_the_default_wait(
        sim: CloudflareSimulator) -> None:
    group = sim.add_group(ACCOUNT)
    clock = ManualClock()
    async with _client(sim, clock) as cf:
        sim.fail_next(status=429, retry_after=10**9)
        with pytest.raises(TransientError) as caught:
            await cf.get_group(ACCOUNT, group["id"])
        assert caught.value.retry_after == MAX_WAIT
        clock.advance(timedelta(seconds=MAX_WAIT))
        await cf.get_group(ACCOUNT, group["id"])

        sim.fail_next(status=429)
        with pytest.raises(TransientError) as caught:
            await cf.get_group(ACCOUNT, group["id"])
        assert caught.value.retry_after == DEFAULT_WAIT
        clock.advance(timedelta(seconds=DEFAULT_WAIT - 0.5))
        with pytest.raises(TransientError):
            await cf.get_group(ACCOUNT, group["id"])
        clock.advance(timedelta(seconds=0.5))
        await cf.get_group(ACCOUNT, group["id"])


def test_a_shorter_retry_after_never_reopens_a_gate_a_longer_one_closed() -> None:
    clock = ManualClock()
    gate = RateGate(clock)
    assert gate.wait_left() == 0.0
    assert gate.close(60) == 60
    clock.advance(timedelta(seconds=10))
    assert gate.close(1) == pytest.approx(50)
    clock.advance(timedelta(seconds=49))
    assert gate.wait_left() == pytest.approx(1)
    clock.advance(timedelta(seconds=1))
    assert gate.wait_left() == 0.0


async def test_two_clients_given_one_gate_share_the_token_s_rate_limit(sim: CloudflareSimulator) -> None:
    group = sim.add_group(ACCOUNT)
    clock = ManualClock()
    gate = RateGate(clock)
    assert sim.base_url is not None
    async with CloudflareClient(sim.base_url, TOKEN, gate=gate) as one, \
            CloudflareClient(sim.base_url, TOKEN, gate=gate) as other:
        sim.fail_next(status=429, retry_after=3)
        with pytest.raises(TransientError):
            await one.get_group(ACCOUNT, group["id"])
        with pytest.raises(TransientError) as held:
            await other.get_group(ACCOUNT, group["id"])
        assert held.value.retry_after == 3 and len(sim.calls) == 1
        clock.advance(timedelta(seconds=3))
        await other.get_group(ACCOUNT, group["id"])
