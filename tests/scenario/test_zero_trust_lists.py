"""A role on a Zero Trust EMAIL list: one PATCH per batch (no GET), the list's 1,000-entry limit, reconcile."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState
from bot.reconcile import render
from bot.services.reconcile import reconcile
from bot.simulators.stack import ACCOUNT
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVAL_CHANNEL,
    APPROVE,
    AUDIT_CHANNEL,
    AUDITED_POLICY,
    BOB,
    advance,
    approval_message,
    audit,
    click,
    grants,
    policy_with,
    slash,
)

LIST = "6c3d2e1f-bbbb-4ccc-8ddd-0123456789ab"
ROLE = "db-list"
POLICY = policy_with(f"""
{ROLE}:
  description: Database via a Zero Trust list
  list_id: {LIST}
  account_id: {ACCOUNT}
  approvers: [{BOB}]
  approval_channel: {APPROVAL_CHANNEL}
  revoke_sessions: true
""", AUDITED_POLICY)


def list_calls(stack, since: int = 0) -> list[tuple[str, str, int]]:
    """(method, path without the account, status) of every call to the list, from index `since`."""
    return [(c.method, c.path.split("/gateway/")[1].split("?")[0], c.status) for c in stack.cloudflare.calls[since:]
            if "/gateway/lists/" in c.path]


async def test_request_approve_append_expire_remove_is_one_cloudflare_call_per_batch(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(POLICY)
    cf = stack.cloudflare
    cf.add_list(ACCOUNT, LIST, name="db", values=["standing@example.com"])

    await slash(stack, ALICE, f"request {ROLE} 1h incident 4211")
    assert cf.calls == [], "nothing may happen at Cloudflare before the approval"
    await click(stack, BOB, await approval_message(stack), APPROVE)

    assert cf.calls and all("/gateway/lists/" in c.path for c in cf.calls)
    assert list_calls(stack) == [("PATCH", f"lists/{LIST}", 200)]
    assert cf.calls[-1].json == {"append": [{"value": ALICE_EMAIL}]}
    assert cf.list_values(ACCOUNT, LIST) == ["standing@example.com", ALICE_EMAIL]
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE

    since = len(cf.calls)
    await advance(stack, clock, timedelta(hours=1, seconds=1))

    assert list_calls(stack, since) == [("PATCH", f"lists/{LIST}", 200)]
    assert cf.calls[since].json == {"remove": [ALICE_EMAIL]}
    assert cf.list_values(ACCOUNT, LIST) == ["standing@example.com"]
    [grant] = await grants(stack)
    assert grant.state is GrantState.REVOKED
    assert cf.revoked_users == [(ACCOUNT, ALICE_EMAIL)]  # the email left the list: sessions ended
    assert cf.invalid_requests == []


async def test_a_full_list_fails_the_grant_and_tells_the_requester_and_the_admins(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(POLICY)
    cf = stack.cloudflare
    cf.add_list(ACCOUNT, LIST, values=[f"user{i:04}@example.com" for i in range(1000)])

    await slash(stack, ALICE, f"request {ROLE} 1h deploy")
    await click(stack, BOB, await approval_message(stack), APPROVE)

    [grant] = await grants(stack)
    assert grant.state is GrantState.FAILED
    assert "at most 1000 items" in (grant.failure or "")
    assert list_calls(stack) == [("PATCH", f"lists/{LIST}", 400)], "a refusal for good is not retried"
    assert len(cf.list_values(ACCOUNT, LIST)) == 1000 and ALICE_EMAIL not in cf.list_values(ACCOUNT, LIST)
    [failed] = await audit(stack, "grant.apply_failed")
    assert failed["grant_id"] == grant.id
    assert [m for m in stack.slack.dms_to(ALICE) if grant.id in m["text"]]
    assert [m for m in stack.slack.messages(AUDIT_CHANNEL) if ":warning:" in m["text"] and grant.id in m["text"]]
    await advance(stack, clock, timedelta(minutes=5))
    assert len(list_calls(stack)) == 1


async def test_reconcile_reads_the_lists_items_and_fix_removes_only_what_the_bot_added(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(POLICY)
    cf = stack.cloudflare
    cf.add_list(ACCOUNT, LIST, values=["standing@example.com"])
    await slash(stack, ALICE, f"request {ROLE} 1h deploy")
    await click(stack, BOB, await approval_message(stack), APPROVE)
    [grant] = await grants(stack)
    async with stack.bot.deps.store.tx() as tx:  # the grant ended while its removal was lost
        assert await tx.grants.move(grant.id, (GrantState.ACTIVE,), GrantState.REVOKED)

    since = len(cf.calls)
    report = await reconcile(stack.bot.deps, stack.bot.scheduler.locker, fix=True)

    [drift] = [d for d in report if d.group_id == f"list:{LIST}"]
    assert drift.stale == [ALICE_EMAIL] and drift.fixed
    assert drift.standing == [{"value": "standing@example.com"}]
    assert cf.list_values(ACCOUNT, LIST) == ["standing@example.com"]
    assert [m for m, _, _ in list_calls(stack, since)] == ["GET", "PATCH"]
    assert f"Zero Trust list {LIST}" in render(report)


async def test_past_the_list_rate_limit_the_patch_waits_for_retry_after_then_lands(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(POLICY)
    cf = stack.cloudflare
    # Cloudflare's 600 a minute, reached at once; the simulator's window is real time, so long enough that a
    # busy machine cannot let it pass between the GET and the PATCH.
    cf.list_rate_limit, cf.list_rate_window = 1, 3.0
    await stack.bot.cloudflare.get_list(ACCOUNT, LIST)  # the window's one request
    await slash(stack, ALICE, f"request {ROLE} 1h deploy")
    await click(stack, BOB, await approval_message(stack), APPROVE)

    assert list_calls(stack) == [("GET", f"lists/{LIST}", 200), ("PATCH", f"lists/{LIST}", 429)]
    [grant] = await grants(stack)
    assert grant.state is GrantState.PENDING
    await asyncio.sleep(3.1)  # the simulator's window (real time) passes
    await advance(stack, clock, timedelta(seconds=3.5))  # the bot's Retry-After (at most 3 s, its clock) passes

    assert list_calls(stack)[2:] == [("PATCH", f"lists/{LIST}", 200)]
    assert cf.list_values(ACCOUNT, LIST) == [ALICE_EMAIL]
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE


async def test_reconcile_reads_every_page_of_a_long_list(make_stack: StackFactory) -> None:
    stack = await make_stack(POLICY)
    cf = stack.cloudflare
    cf.add_list(ACCOUNT, LIST, values=[f"user{i:03}@example.com" for i in range(120)])

    [drift] = [d for d in await reconcile(stack.bot.deps, stack.bot.scheduler.locker) if d.group_id == f"list:{LIST}"]

    assert len(drift.standing) == 120 and not drift.drifted and drift.error is None
    assert [m for m, _, _ in list_calls(stack)] == ["GET", "GET", "GET"]  # 50 a page
