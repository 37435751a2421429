"""Cloudflare's rate limit belongs to the token: after a 429 on one group the outbox sends nothing to any
group or endpoint until Retry-After has passed, then catches up (issue 8, item 6)."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState
from bot.simulators.cloudflare_budget import Budget
from bot.simulators.stack import PROD_GROUP, STAGING_GROUP, Stack
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVE,
    BOB,
    advance,
    approval_message,
    click,
    emails,
    grants,
    slash,
)


async def test_after_a_429_on_one_group_the_revocation_of_another_waits_for_retry_after(
        stack: Stack, clock: ManualClock) -> None:
    await slash(stack, ALICE, "request staging 1h")
    [staging] = await grants(stack)
    assert ALICE_EMAIL in emails(stack, STAGING_GROUP)
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    since = len(stack.cloudflare.calls)
    stack.cloudflare.fail_next(1, status=429, retry_after=5, method="PUT", path_contains=PROD_GROUP)
    await click(stack, BOB, msg, APPROVE)
    assert [(c.method, c.status) for c in stack.cloudflare.calls[since:]] == [("GET", 200), ("PUT", 429)]

    await slash(stack, ALICE, f"revoke {staging.id}")  # another group, and a removal: still the same token
    await advance(stack, clock, timedelta(seconds=2))
    await advance(stack, clock, timedelta(seconds=2))
    assert len(stack.cloudflare.calls) == since + 2, "a call went out before Retry-After (5 s) had passed"
    assert ALICE_EMAIL in emails(stack, STAGING_GROUP)

    await advance(stack, clock, timedelta(seconds=1.5))
    assert ALICE_EMAIL not in emails(stack, STAGING_GROUP)
    assert ALICE_EMAIL in emails(stack, PROD_GROUP)
    states = {g.role: g.state for g in await grants(stack)}
    assert states == {"staging": GrantState.REVOKED, "prod-db": GrantState.ACTIVE}
    assert all(c.status == 200 for c in stack.cloudflare.calls[since + 2:])


async def test_over_cloudflare_s_token_budget_a_revocation_waits_out_the_block_and_then_completes(
        stack: Stack, clock: ManualClock) -> None:
    stack.cloudflare.now = lambda: clock.now().timestamp()  # the simulator's budget runs on the test's clock
    stack.cloudflare.set_budgets(token=Budget(2, 60.0, block=60.0))  # two calls a minute, then a minute's block
    await slash(stack, ALICE, "request staging 1h")  # GET + PUT: the budget is spent
    [staging] = await grants(stack)
    assert ALICE_EMAIL in emails(stack, STAGING_GROUP)
    since = len(stack.cloudflare.calls)

    await slash(stack, ALICE, f"revoke {staging.id}")
    assert [c.status for c in stack.cloudflare.calls[since:]] == [429]  # the revocation's GET is refused
    assert [(r.scope, r.retry_after) for r in stack.cloudflare.rate_refusals] == [("token", 60)]
    for _ in range(3):
        await advance(stack, clock, timedelta(seconds=19))
    assert len(stack.cloudflare.calls) == since + 1, "a call went out before Retry-After (60 s) had passed"
    assert ALICE_EMAIL in emails(stack, STAGING_GROUP)

    await advance(stack, clock, timedelta(seconds=3.5))
    assert ALICE_EMAIL not in emails(stack, STAGING_GROUP)
    assert [g.state for g in await grants(stack)] == [GrantState.REVOKED]
    assert [c.status for c in stack.cloudflare.calls[since + 1:]] == [200, 200]
    assert len(stack.cloudflare.rate_refusals) == 1
