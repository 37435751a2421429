"""A Slack outage never holds access open: with Slack down for the whole test and a backlog of notices far
larger than any claim window, every expired email leaves Cloudflare on time (issue 8, item 0)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState
from bot.simulators.stack import PROD_GROUP, STAGING_GROUP, Stack
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVE,
    BOB,
    CAROL,
    DANA,
    approval_message,
    audit,
    click,
    emails,
    grants,
    slash,
    wait_until,
)

SLACK_BACKLOG = 3000  # notices owed before the expiries: six times the old 500-effect window
ON_TIME = 5.0  # seconds of real time from the expiry to the email gone (the removal itself takes ~0.1 s)


async def _slack_down(stack: Stack, how: str) -> None:
    if how == "unreachable":
        await stack.slack.stop()
    else:
        for method in ("*", "response_url"):
            stack.slack.fail_next(method, n=10**9, error="service_unavailable", status=503)


@pytest.mark.parametrize("how", ["5xx", "unreachable"])
async def test_with_slack_down_and_thousands_of_notices_owed_every_expired_email_leaves_cloudflare_on_time(
        stack: Stack, clock: ManualClock, how: str) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    await click(stack, BOB, await approval_message(stack), APPROVE)
    for user in (ALICE, CAROL, DANA):
        await slash(stack, user, "request staging 1h")
    assert ALICE_EMAIL in emails(stack, PROD_GROUP)
    assert len(emails(stack, STAGING_GROUP)) == 3
    [some_grant, *_] = await grants(stack)

    await _slack_down(stack, how)
    async with stack.bot.deps.store.tx() as tx:
        for i in range(SLACK_BACKLOG):  # notices from earlier grants, still owed and due
            await tx.outbox.enqueue("notify.user", {"user": ALICE, "event": "approved", "grant_id": some_grant.id},
                                    key="slack")
            if i % 2:
                await tx.outbox.enqueue("home.refresh", {"users": [ALICE], "approvers_of": None}, key="slack")

    clock.advance(timedelta(hours=1))
    expired_at = time.monotonic()
    stack.bot.scheduler.wake()
    await wait_until(lambda: not emails(stack, PROD_GROUP) and not emails(stack, STAGING_GROUP),
                     timeout=ON_TIME, what="every expired email to leave Cloudflare while Slack is down")
    lag = time.monotonic() - expired_at


    async def all_revoked() -> bool:  # recorded just after Cloudflare confirmed the removal
        return {g.state for g in await grants(stack)} == {GrantState.REVOKED}

    await wait_until(all_revoked, timeout=ON_TIME, what="every grant to be recorded revoked")
    revoked = await audit(stack, "grant.revoked")
    assert len(revoked) == 4 and all(r["details"]["email_left_group"] for r in revoked)
    assert lag < ON_TIME
    async with stack.bot.deps.store.tx() as tx:  # the notices are still owed, not dropped
        assert len([r for r in await tx.outbox.pending_effects_for_key("slack")]) >= SLACK_BACKLOG
