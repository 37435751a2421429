"""Clicks that race and deliveries Slack retries never do a thing twice (spec §3, §4)."""

from __future__ import annotations

import asyncio

from bot.domain.model import GrantState, RequestState
from bot.simulators.stack import PROD_GROUP, Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVE,
    BOB,
    CAROL,
    DENY,
    TWO_APPROVALS,
    all_text,
    approval_message,
    audit,
    emails,
    grants,
    group_calls,
    only_request,
    request,
    settle,
    slash,
)


async def _pending(stack: Stack) -> tuple[str, dict]:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    return (await only_request(stack, ALICE)).id, await approval_message(stack)


def _puts(stack: Stack) -> list:
    return [c for c in group_calls(stack, PROD_GROUP) if c.method == "PUT"]


async def test_many_approve_clicks_from_two_approvers_at_once_make_exactly_one_grant(stack: Stack) -> None:
    request_id, msg = await _pending(stack)
    clicks = [stack.driver.click(user, msg, APPROVE) for _ in range(5) for user in (BOB, CAROL)]
    assert {r.status for r in await asyncio.gather(*clicks)} == {200}
    await settle(stack)
    assert (await request(stack, request_id)).state is RequestState.APPROVED
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE
    assert len(await audit(stack, "request.approved")) == 1
    assert len(await audit(stack, "grant.applied")) == 1
    assert len(_puts(stack)) == 1 and emails(stack) == [ALICE_EMAIL]
    assert len([m for m in stack.slack.dms_to(ALICE) if "is active" in m["text"]]) == 1
    # every click was answered; all but the deciding one were told it changed nothing
    answers = [all_text(e) for u in (BOB, CAROL) for e in stack.slack.ephemerals(u)]
    assert len(answers) == 10
    assert sum("changed nothing" in a or "already" in a for a in answers) == 9


async def test_a_double_click_by_one_approver_counts_once(stack: Stack) -> None:
    request_id, msg = await _pending(stack)
    await asyncio.gather(stack.driver.click(BOB, msg, APPROVE), stack.driver.click(BOB, msg, APPROVE))
    await settle(stack)
    req = await request(stack, request_id)
    assert req.state is RequestState.APPROVED and [v.voter for v in req.votes] == [BOB]
    assert len(await grants(stack)) == 1 and len(_puts(stack)) == 1
    assert len(await audit(stack, "request.vote")) == 1


async def test_approve_racing_deny_ends_in_exactly_one_outcome(stack: Stack) -> None:
    request_id, msg = await _pending(stack)
    await asyncio.gather(stack.driver.click(BOB, msg, APPROVE), stack.driver.click(CAROL, msg, DENY))
    await settle(stack)
    state = (await request(stack, request_id)).state
    approved, denied = await audit(stack, "request.approved"), await audit(stack, "request.denied")
    if state is RequestState.APPROVED:
        assert len(approved) == 1 and denied == []
        assert len(await grants(stack)) == 1 and len(_puts(stack)) == 1 and emails(stack) == [ALICE_EMAIL]
    else:
        assert state is RequestState.DENIED
        assert len(denied) == 1 and approved == []
        assert await grants(stack) == [] and stack.cloudflare.calls == []


async def test_a_retried_event_delivery_is_processed_once(stack: Stack) -> None:
    first = await stack.driver.app_home_opened(ALICE, event_id="Ev0RETRY0001")
    await settle(stack)
    retry = await stack.driver.app_home_opened(ALICE, event_id="Ev0RETRY0001", retry_num=1)
    assert first.status == 200 and retry.status == 200
    await settle(stack)
    assert stack.slack.count("views.publish") == 1
    assert stack.slack.home(ALICE) is not None


async def test_a_retried_event_arriving_while_the_first_is_in_flight_is_processed_once(stack: Stack) -> None:
    await asyncio.gather(*(stack.driver.app_home_opened(ALICE, event_id="Ev0RETRY0002", retry_num=n or None)
                           for n in range(3)))
    await settle(stack)
    assert stack.slack.count("views.publish") == 1


async def test_distinct_events_are_each_processed(stack: Stack) -> None:
    await stack.driver.app_home_opened(ALICE, event_id="Ev0DISTINCT1")
    await stack.driver.app_home_opened(ALICE, event_id="Ev0DISTINCT2")
    await settle(stack)
    assert stack.slack.count("views.publish") == 2


async def test_a_concurrent_double_click_on_a_role_needing_two_approvals_counts_once(
        make_stack: StackFactory) -> None:
    stack = await make_stack(TWO_APPROVALS)
    await slash(stack, ALICE, "request two-man 1h rotate keys")
    req = await only_request(stack, ALICE)
    msg = await approval_message(stack)
    await asyncio.gather(*(stack.driver.click(BOB, msg, APPROVE) for _ in range(4)))
    await settle(stack)
    after = await request(stack, req.id)
    assert after.state is RequestState.PENDING and [v.voter for v in after.votes] == [BOB]
    assert await grants(stack) == [] and stack.cloudflare.calls == []


async def test_two_approvers_clicking_at_once_on_a_role_needing_two_approve_it_once(
        make_stack: StackFactory) -> None:
    stack = await make_stack(TWO_APPROVALS)
    await slash(stack, ALICE, "request two-man 1h rotate keys")
    req = await only_request(stack, ALICE)
    msg = await approval_message(stack)
    await asyncio.gather(stack.driver.click(BOB, msg, APPROVE), stack.driver.click(CAROL, msg, APPROVE))
    await settle(stack)
    after = await request(stack, req.id)
    assert after.state is RequestState.APPROVED and sorted(v.voter for v in after.votes) == [BOB, CAROL]
    assert len(await grants(stack)) == 1 and len(await audit(stack, "request.approved")) == 1


async def test_approve_racing_the_requesters_cancel_ends_in_exactly_one_outcome(stack: Stack) -> None:
    request_id, msg = await _pending(stack)
    await asyncio.gather(stack.driver.click(BOB, msg, APPROVE), stack.driver.slash(ALICE, f"cancel {request_id}"))
    await settle(stack)
    state = (await request(stack, request_id)).state
    if state is RequestState.APPROVED:
        assert len(await grants(stack)) == 1 and await audit(stack, "request.cancelled") == []
    else:
        assert state is RequestState.CANCELLED
        assert await grants(stack) == [] and stack.cloudflare.calls == []
        assert await audit(stack, "request.approved") == []
