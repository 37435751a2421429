"""The audit channel: one thread per request, `audit_channel_events` picks how loud it is, typos stay out."""

from __future__ import annotations

from bot.simulators.stack import Stack
from tests.scenario.helpers import (
    ALICE,
    APPROVE,
    AUDIT_CHANNEL,
    BOB,
    approval_message,
    audit,
    base_policy,
    click,
    only_request,
    settle,
    slash,
    top_level,
)


async def test_each_request_gets_one_thread_in_the_audit_channel_with_its_events_as_replies(
        audited_stack: Stack) -> None:
    stack = audited_stack
    await slash(stack, ALICE, "request prod-db 1h incident")
    req = await only_request(stack, ALICE)
    await click(stack, BOB, await approval_message(stack), APPROVE)
    await settle(stack)
    roots = [m for m in top_level(stack, AUDIT_CHANNEL) if req.id in m["text"]]
    assert len(roots) == 1 and "request.created" in roots[0]["text"]
    replies = stack.slack.thread(AUDIT_CHANNEL, roots[0]["ts"])
    actions = " ".join(m["text"] for m in replies)
    assert "request.approved" in actions and "grant.applied" in actions
    assert all(req.id in m["text"] for m in replies)


async def test_a_mistyped_command_is_audited_but_not_posted_to_the_audit_channel(audited_stack: Stack) -> None:
    stack = audited_stack
    await slash(stack, ALICE, "request prod-dbb 1h oops")
    await slash(stack, ALICE, "frobnicate")
    await settle(stack)
    refused = await audit(stack, "request.refused")
    assert {r["details"]["code"] for r in refused} >= {"unknown_role", "unknown_command"}
    assert not [m for m in stack.slack.messages(AUDIT_CHANNEL) if "request.refused" in m["text"]]


async def test_audit_channel_events_decisions_leaves_out_votes_and_warnings(make_stack) -> None:
    stack = await make_stack(base_policy(AUDIT_CHANNEL) + "audit_channel_events: decisions\n")
    await slash(stack, ALICE, "request prod-db 1h incident")
    await click(stack, BOB, await approval_message(stack), APPROVE)
    await settle(stack)
    posted = " ".join(m["text"] for m in stack.slack.messages(AUDIT_CHANNEL))
    assert "request.created" in posted and "request.approved" in posted and "grant.applied" in posted
    assert "request.vote" not in posted
    assert await audit(stack, "request.vote"), "still in the audit log"


async def test_audit_channel_events_alerts_posts_only_what_needs_a_person(make_stack) -> None:
    stack = await make_stack(base_policy(AUDIT_CHANNEL) + "audit_channel_events: alerts\n")
    await slash(stack, ALICE, "request prod-db 1h incident")
    await click(stack, BOB, await approval_message(stack), APPROVE)
    await settle(stack)
    assert stack.slack.messages(AUDIT_CHANNEL) == []
    assert await audit(stack, "grant.applied")
