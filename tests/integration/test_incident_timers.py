"""Reminders, escalations and break-glass review reminders happen once with two schedulers on one database
(replicas, or a restart racing the old process), on SQLite and PostgreSQL (issue 11)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.services import breakglass, requests
from tests.core_harness import GROUP, GROUP2, make_core
from tests.policies import policy_text, role

M = timedelta(minutes=1)
POLICY = policy_text({
    "prod-db": role(GROUP, approvers=["U0APPR01"], remind_after="10m", reminders=3, escalate_after="25m",
                    escalate_to=["U0APPR02"]),
    "glass": role(GROUP2, approvers=["U0APPR01"], break_glass=True, remind_after="10m"),
}, defaults={"request_timeout": "4h"})


async def _audited(core, action: str) -> list[dict]:  # noqa: ANN001
    async with core.deps.store.tx() as tx:
        return [r for r in await tx.audit.rows() if r["action"] == action]


async def test_two_schedulers_send_each_reminder_escalation_and_review_reminder_once(database_url: str) -> None:
    one = await make_core(database_url, POLICY)
    two = await make_core(database_url, POLICY)
    try:
        out = await requests.submit(one.deps, "U0ALICE", "prod-db", timedelta(hours=1), "incident 4211")
        assert out.ok
        glass = await breakglass.break_glass(one.deps, "U0BOB", "glass", None, "on fire")
        assert glass.ok
        for _ in range(4):  # 40 minutes, in 10-minute steps; both processes tick at once, twice a step
            for core in (one, two):
                core.clock.advance(10 * M)
            for _ in range(2):
                await asyncio.gather(one.scheduler.tick(), two.scheduler.tick())
        assert [r["details"]["nth"] for r in await _audited(one, "request.reminded")] == [1, 2, 3]
        assert len(await _audited(one, "request.escalated")) == 1
        assert [r["details"]["nth"] for r in await _audited(one, "breakglass.reminded")] == [1, 2, 3, 4]
        await asyncio.gather(one.scheduler.run_until_idle(), two.scheduler.run_until_idle())
        kinds = [e.KIND for e in one.messenger.sent + two.messenger.sent]
        assert kinds.count("approval.remind") == 3 and kinds.count("approval.escalate") == 1
        assert kinds.count("breakglass.review") == 5  # the announcement and four reminders
    finally:
        await one.deps.store.engine.dispose()
        await two.deps.store.engine.dispose()
