"""The retention job as `serve` wires it: a replay within Slack's window is refused after it ran; later the
delivery keys and done effects go, and the audit log stays whole."""

from __future__ import annotations

import asyncio
import urllib.parse
from datetime import timedelta

from sqlalchemy import func, select

from bot.domain.audit import first_broken
from bot.domain.clock import ManualClock
from bot.domain.retention import RETENTION_FLOOR
from bot.simulators.slack_driver import FORM
from bot.simulators.stack import Stack
from bot.storage import tables as t
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import ALICE, settle


async def _count(stack: Stack, table: t.Table, *where: object) -> int:
    async with stack.bot.deps.store.tx() as tx:
        return int((await tx.conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def test_the_retention_job_keeps_a_replayed_command_refused_then_prunes_keys_and_done_effects(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(settings_overrides={"accessbot_reconcile_interval": timedelta(0),
                                                 "accessbot_retention": "10m"})
    [job] = [j for j in stack.bot.scheduler.jobs if j.name == "retention"]
    assert job.interval == RETENTION_FLOOR
    fields, _ = stack.driver._slash_payload(ALICE, "request staging 1h", "/access", "C0GENERAL")  # noqa: SLF001
    body = urllib.parse.urlencode(list(fields.items())).encode()
    headers = {"Content-Type": FORM, **stack.driver.sign(body)}
    assert (await stack.driver.raw(body, headers)).status == 200
    await settle(stack)
    assert await _count(stack, t.deliveries) == 1
    done = await _count(stack, t.effects, t.effects.c.state == "done")
    assert done > 0

    clock.advance(RETENTION_FLOOR - timedelta(seconds=1))
    await job.run()
    assert (await stack.driver.raw(body, headers)).status == 401  # still known: the replay is refused
    assert await _count(stack, t.deliveries) == 1

    clock.advance(timedelta(seconds=2))  # the job falls due by the scheduler's clock and runs by itself
    for _ in range(100):
        if await _count(stack, t.deliveries) == 0:
            break
        await asyncio.sleep(0.05)
    assert await _count(stack, t.deliveries) == 0
    assert await _count(stack, t.effects, t.effects.c.state == "done") < done
    async with stack.bot.deps.store.tx() as tx:
        assert first_broken(await tx.audit.rows()) is None
