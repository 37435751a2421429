"""The Cloudflare client's token-wide gate: after a 429 no call with the token goes out before Retry-After."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest

from bot.cloudflare.client import CloudflareClient
from bot.cloudflare.gate import DEFAULT_WAIT, MAX_WAIT, RateGate
from bot.domain.clock import ManualClock
from bot.domain.errors import TransientError
from bot.domain.membership import email_rule
from bot.simulators.cloudflare_budget import IP_BUDGET, TOKEN_BUDGET, Budget
from bot.simulators.cloudflare_sim import CloudflareSimulator

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-gate-token"



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


async def test_over_the_simulated_token_budget_the_client_sends_nothing_until_retry_after_then_goes_on() -> None:
    now = [0.0]
    async with CloudflareSimulator(TOKEN, token_budget=Budget(3, 60.0, block=60.0), now=lambda: now[0]) as sim:
        group = sim.add_group(ACCOUNT, name="A", include=[email_rule("ann@example.com")])
        clock = ManualClock()
        async with _client(sim, clock) as cf:
            for _ in range(3):
                await cf.get_group(ACCOUNT, group["id"])
            with pytest.raises(TransientError) as refused:
                await cf.put_group(ACCOUNT, group["id"], {"name": "A", "include": []})
            assert refused.value.status == 429 and refused.value.retry_after == 60
            assert refused.value.errors[0]["code"] == 971
            assert [(r.scope, r.retry_after) for r in sim.rate_refusals] == [("token", 60)]
            sent = len(sim.calls)

            now[0] += 59
            clock.advance(timedelta(seconds=59))
            with pytest.raises(TransientError) as held:
                await cf.revoke_user(ACCOUNT, "ann@example.com")
            assert "was not sent" in str(held.value) and held.value.retry_after == pytest.approx(1)
            assert len(sim.calls) == sent, "a call went out before Retry-After"

            now[0] += 1
            clock.advance(timedelta(seconds=1))
            await cf.put_group(ACCOUNT, group["id"], {"name": "A", "include": []})
            await cf.revoke_user(ACCOUNT, "ann@example.com")
    assert sim.group(ACCOUNT, group["id"])["include"] == []
    assert [c.status for c in sim.calls[sent:]] == [200, 200]
    assert len(sim.rate_refusals) == 1


async def test_past_the_per_ip_budget_the_simulator_answers_429_with_cloudflare_s_envelope() -> None:
    now = [5.0]
    async with CloudflareSimulator(TOKEN, ip_budget=Budget(2, 1.0), now=lambda: now[0]) as sim:
        group = sim.add_group(ACCOUNT)
        assert sim.base_url is not None
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            url = f"{sim.base_url}/accounts/{ACCOUNT}/access/groups/{group['id']}"
            assert [(await http.get(url)).status_code for _ in range(2)] == [200, 200]
            over = await http.get(url)
            now[0] += 1.0
            again = await http.get(url)
    assert over.status_code == 429 and over.headers["Retry-After"] == "1"
    assert over.json() == {"success": False, "result": None, "messages": [], "errors": [
        {"code": 971, "message": "Please wait and consider throttling your request speed"}]}
    assert again.status_code == 200
    assert [(r.scope, r.retry_after) for r in sim.rate_refusals] == [("ip", 1)]


async def test_by_default_the_simulator_enforces_cloudflare_s_real_budget(sim: CloudflareSimulator) -> None:
    assert (sim._token_window.budget, sim._ip_window.budget) == (TOKEN_BUDGET, IP_BUDGET)  # noqa: SLF001
