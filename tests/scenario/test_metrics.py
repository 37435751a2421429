"""/metrics tells an operator when access is not ending on time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState
from bot.polling import eventually
from bot.simulators.stack import start_stack


async def _metric(url: str, name: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        text = await resp.text()
    line = next(x for x in text.splitlines() if x.startswith(name + " ") or x.startswith(name + "{"))
    return float(line.rsplit(" ", 1)[1])


async def _metric_or_zero(url: str, name: str) -> float:
    """The metric's value, 0 while it has no sample yet."""
    try:
        return await _metric(url, name)
    except (StopIteration, RuntimeError):
        return 0.0


async def _metric_is_one(url: str, name: str) -> bool:
    """True once the metric reads 1."""
    return await _metric_or_zero(url, name) == 1


async def test_revocation_overdue_seconds_rises_while_cloudflare_refuses_and_falls_after(database_url: str) -> None:
    clock = ManualClock(datetime.now(UTC))
    stack = await start_stack(database_url=database_url, clock=clock,
                              settings_overrides={"accessbot_reconcile_interval": "0"})
    try:
        await stack.driver.slash("U0ALICE", "request staging 1h")
        await stack.idle()
        async with stack.bot.deps.store.tx() as tx:
            assert [g.state for g in await tx.grants.find()] == [GrantState.ACTIVE]
        assert await _metric(stack.url, "accessbot_revocation_overdue_seconds") == 0
        stack.cloudflare.set_fault_rate(1.0, kinds=("503",))
        clock.advance(timedelta(hours=1, seconds=30))
        await stack.idle()
        assert await _metric(stack.url, "accessbot_revocation_overdue_seconds") == 30
        # the failed attempt is recorded by its worker, which idle() does not wait for: poll a few seconds
        retrying = 'accessbot_effects_retrying{kind="cf.sync"}'
        await eventually(lambda: _metric_is_one(stack.url, retrying), 10, retrying, step=0.1)
        assert await _metric(stack.url, retrying) == 1
        stack.cloudflare.set_fault_rate(0.0)
        clock.advance(timedelta(minutes=2))
        await stack.idle()
        assert await _metric(stack.url, "accessbot_revocation_overdue_seconds") == 0
    finally:
        await stack.stop()


async def test_a_grant_state_that_drops_to_zero_reads_zero_not_its_last_value(database_url: str) -> None:
    stack = await start_stack(database_url=database_url, settings_overrides={"accessbot_reconcile_interval": "0"})
    try:
        await stack.driver.slash("U0ALICE", "request staging 1h")
        await stack.idle()
        async with stack.bot.deps.store.tx() as tx:
            (grant,) = await tx.grants.find()
        assert await _metric(stack.url, 'accessbot_grants{state="active"}') == 1
        assert await _metric(stack.url, 'accessbot_grants{state="revoked"}') == 0
        await stack.driver.slash("U0ALICE", f"revoke {grant.id}")
        await stack.idle()
        assert await _metric(stack.url, 'accessbot_grants{state="active"}') == 0
        assert await _metric(stack.url, 'accessbot_grants{state="revoked"}') == 1
        assert await _metric(stack.url, 'accessbot_effects{state="pending"}') == 0
    finally:
        await stack.stop()
