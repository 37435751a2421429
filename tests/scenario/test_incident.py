"""Reminders, escalation and break-glass over the real app and the simulators, with a manual clock (issue 11)."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState, RequestState
from bot.slack.incident_blocks import BG_ACK, BG_REVOKE
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ACCOUNT,
    ALICE,
    APPROVAL_CHANNEL,
    APPROVE,
    AUDIT_CHANNEL,
    BOB,
    CAROL,
    DANA,
    DM_GROUP,
    advance,
    all_text,
    approval_message,
    audit,
    base_policy,
    buttons,
    click,
    emails,
    grants,
    has_buttons,
    only_request,
    policy_with,
    settle,
    slash,
    top_level,
)

M = timedelta(minutes=1)

INCIDENT_POLICY = policy_with(f"""
oncall-db:
  description: The database, with reminders and escalation
  group_id: {DM_GROUP}
  account_id: {ACCOUNT}
  approvers: [U0APPR01]
  approval_channel: {APPROVAL_CHANNEL}
  remind_after: 15m
  reminders: 2
  escalate_after: 40m
  escalate_to: [U0APPR02]
  break_glass: true
  break_glass_max_duration: 30m
""", base_policy(AUDIT_CHANNEL, request_timeout="4h"))


def _reminders(stack, channel: str) -> list[dict]:  # noqa: ANN001
    return [m for m in stack.slack.messages(channel) if "Reminder" in m["text"]]


async def test_approvers_are_reminded_in_the_thread_and_by_dm_then_the_request_escalates(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(INCIDENT_POLICY)
    await slash(stack, ALICE, "request oncall-db 1h incident 4211")
    await approval_message(stack)
    await advance(stack, clock, 14 * M)
    assert _reminders(stack, APPROVAL_CHANNEL) == []
    await advance(stack, clock, 1 * M)
    [thread_note] = _reminders(stack, APPROVAL_CHANNEL)
    assert thread_note["thread_ts"] and f"<@{BOB}>" in thread_note["text"]
    assert len([m for m in stack.slack.dms_to(BOB) if "Reminder 1" in m["text"]]) == 1
    assert len(await audit(stack, "request.reminded")) == 1

    await advance(stack, clock, 25 * M)  # 40m: the second reminder (30m) and the escalation
    assert len(await audit(stack, "request.reminded")) == 2
    assert [e["details"]["to"] for e in await audit(stack, "request.escalated")] == [[CAROL]]
    [asked] = [m for m in top_level(stack, stack.slack.dm_channel(CAROL)) if has_buttons(m)]
    assert "Escalated" in all_text(await _updated(stack, await approval_message(stack)))
    assert "escalated" in all_text(stack.slack.messages(APPROVAL_CHANNEL)[-1]) or any(
        "escalated" in m["text"] for m in stack.slack.messages(APPROVAL_CHANNEL))
    await click(stack, CAROL, asked, APPROVE)
    req = await only_request(stack, ALICE, RequestState.APPROVED)
    assert req.decided_by == CAROL
    await advance(stack, clock, timedelta(hours=1))
    assert len(await audit(stack, "request.reminded")) == 2, "a decision stops the reminders"
    assert not has_buttons(await _updated(stack, asked)), "the escalation target's message is updated too"


async def _updated(stack, message: dict) -> dict:  # noqa: ANN001
    return next(m for m in stack.slack.messages(message["channel"]) if m["ts"] == message["ts"])


async def test_break_glass_is_granted_at_once_announced_and_acknowledged_by_an_admin(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(INCIDENT_POLICY)
    reply = await slash(stack, ALICE, "breakglass oncall-db 2h db is down INC-9")
    assert "Break-glass" in reply["text"] and "cut to the break-glass limit of 30m" in reply["text"]
    [grant] = await grants(stack)
    assert grant.break_glass and grant.state is GrantState.ACTIVE and grant.duration == 30 * M
    assert "alice@example.com" in emails(stack, DM_GROUP)
    assert any("Break-glass" in m["text"] for m in stack.slack.messages(AUDIT_CHANNEL))
    [review] = [m for m in top_level(stack, stack.slack.dm_channel(DANA)) if has_buttons(m)]
    assert "db is down INC-9" in all_text(review)
    revoke = next(b for b in buttons(review) if b["action_id"] == BG_REVOKE)
    assert revoke.get("confirm") and revoke.get("style") == "danger"

    answer = await click(stack, ALICE, review, BG_ACK)  # not an admin
    assert answer and "only the policy's admins" in answer["text"]
    assert (await audit(stack, "approval.refused"))[-1]["details"]["op"] == "breakglass.acknowledge"

    await advance(stack, clock, 30 * M)  # review reminders come every remind_after (15m here)
    assert any("Reminder 1" in all_text(m) for m in stack.slack.dms_to(DANA))
    await click(stack, DANA, review, BG_ACK)
    assert len(await audit(stack, "breakglass.acknowledged")) == 1
    assert not has_buttons(await _updated(stack, review))
    before = len(stack.slack.dms_to(DANA))
    await advance(stack, clock, timedelta(hours=2))
    assert not any("Reminder 2" in all_text(m) for m in stack.slack.dms_to(DANA)[before:])


async def test_revoke_now_ends_a_break_glass_grant_at_cloudflare(make_stack: StackFactory) -> None:
    stack = await make_stack(INCIDENT_POLICY)
    await slash(stack, ALICE, "breakglass oncall-db 10m db is down")
    [review] = [m for m in top_level(stack, stack.slack.dm_channel(DANA)) if has_buttons(m)]
    await click(stack, DANA, review, BG_REVOKE)
    [grant] = await grants(stack)
    assert grant.state is GrantState.REVOKED and grant.acknowledged_by == DANA
    assert "alice@example.com" not in emails(stack, DM_GROUP)


async def test_break_glass_on_a_role_without_it_is_refused_and_nothing_is_granted(make_stack: StackFactory) -> None:
    stack = await make_stack(INCIDENT_POLICY)
    reply = await slash(stack, ALICE, "breakglass prod-db 1h please")
    assert "has no break-glass" in reply["text"]
    assert await grants(stack) == []
    assert (await audit(stack, "request.refused"))[-1]["details"]["code"] == "break_glass_not_allowed"
    reply = await slash(stack, ALICE, "breakglass oncall-db 5x on fire")
    assert "breakglass ROLE [DURATION] REASON" in reply["text"]


async def test_app_home_marks_break_glass_and_shows_admins_the_grants_waiting_for_review(
        make_stack: StackFactory) -> None:
    stack = await make_stack(INCIDENT_POLICY)
    await slash(stack, ALICE, "breakglass oncall-db 10m db is down")
    [grant] = await grants(stack)
    for user in (ALICE, DANA):
        await stack.driver.app_home_opened(user)
    await settle(stack)
    assert "break-glass" in all_text(stack.slack.home(ALICE))
    home = stack.slack.home(DANA)
    assert "wait for review" in all_text(home) and grant.id in all_text(home)
    before = stack.slack.count("views.publish")
    await stack.driver.click_view(DANA, home, BG_ACK)
    await settle(stack)
    assert stack.slack.count("views.publish") > before
    assert "wait for review" not in all_text(stack.slack.home(DANA))
