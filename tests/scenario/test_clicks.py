"""Who may click Approve / Deny, and what each click does (spec §3 'When someone clicks')."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState, RequestState
from bot.simulators.stack import PROD_GROUP, Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVAL_CHANNEL,
    APPROVE,
    BOB,
    CAROL,
    DENY,
    DM_GROUP,
    DM_MODE,
    MALLORY,
    SELF_APPROVAL,
    TWO_APPROVALS,
    advance,
    all_text,
    approval_message,
    audit,
    click,
    emails,
    grants,
    has_buttons,
    only_request,
    request,
    slash,
    top_level,
)


async def _request(stack: Stack, user: str = ALICE, text: str = "request prod-db 1h deploy hotfix"):
    await slash(stack, user, text)
    return await only_request(stack, user), await approval_message(stack)


async def test_a_non_approver_is_refused_and_the_request_is_unchanged(stack: Stack) -> None:
    req, msg = await _request(stack)
    answer = await click(stack, MALLORY, msg, APPROVE)
    assert answer is not None and "not an approver" in all_text(answer)
    after = await request(stack, req.id)
    assert after.state is RequestState.PENDING and after.votes == []
    assert has_buttons(stack.slack.message(APPROVAL_CHANNEL, msg["ts"]))
    assert await grants(stack) == [] and stack.cloudflare.calls == []
    [refused] = await audit(stack, "approval.refused")
    assert refused["actor"] == MALLORY and refused["request_id"] == req.id
    assert refused["details"]["code"] == "not_an_approver"
    # a Deny from a non-approver does nothing either
    await click(stack, MALLORY, msg, DENY)
    assert (await request(stack, req.id)).state is RequestState.PENDING


async def test_a_member_of_an_approver_user_group_may_approve(stack: Stack) -> None:
    # U0APPR02 is not listed by ID; she is in S0SRETEAM, which prod-db lists.
    _, msg = await _request(stack)
    await click(stack, CAROL, msg, APPROVE)
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE and ALICE_EMAIL in emails(stack)
    assert any(c.params.get("usergroup") == "S0SRETEAM" for c in stack.slack.calls_to("usergroups.users.list"))
    [approved] = await audit(stack, "request.approved")
    assert approved["actor"] == CAROL


async def test_a_requester_cannot_approve_their_own_request(stack: Stack) -> None:
    req, msg = await _request(stack, BOB)
    answer = await click(stack, BOB, msg, APPROVE)
    assert answer is not None and "your own request" in all_text(answer)
    assert (await request(stack, req.id)).state is RequestState.PENDING
    assert await grants(stack) == []
    [refused] = await audit(stack, "approval.refused")
    assert refused["details"]["code"] == "self_approval"


async def test_a_requester_may_approve_their_own_request_when_the_role_allows_self_approval(
        make_stack: StackFactory) -> None:
    stack = await make_stack(SELF_APPROVAL)
    req, msg = await _request(stack, BOB, "request self-ok 1h on call")
    await click(stack, BOB, msg, APPROVE)
    assert (await request(stack, req.id)).state is RequestState.APPROVED
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE
    assert "bob@example.com" in emails(stack, DM_GROUP)


async def test_an_approvers_second_approval_does_not_count_twice(make_stack: StackFactory) -> None:
    stack = await make_stack(TWO_APPROVALS)
    req, msg = await _request(stack, ALICE, "request two-man 1h rotate keys")
    await click(stack, BOB, msg, APPROVE)
    progress = stack.slack.message(APPROVAL_CHANNEL, msg["ts"])
    assert has_buttons(progress) and "1 of 2" in all_text(progress)
    answer = await click(stack, BOB, progress, APPROVE)
    assert answer is not None and "already counted" in all_text(answer)
    after = await request(stack, req.id)
    assert after.state is RequestState.PENDING and len(after.votes) == 1
    assert await grants(stack) == [] and stack.cloudflare.calls == []
    assert [r["details"]["code"] for r in await audit(stack, "approval.refused")] == ["already_voted"]


async def test_two_distinct_approvers_approve_a_role_that_needs_two(make_stack: StackFactory) -> None:
    stack = await make_stack(TWO_APPROVALS)
    req, msg = await _request(stack, ALICE, "request two-man 1h rotate keys")
    await click(stack, BOB, msg, APPROVE)
    assert await grants(stack) == []
    await click(stack, CAROL, stack.slack.message(APPROVAL_CHANNEL, msg["ts"]), APPROVE)
    assert (await request(stack, req.id)).state is RequestState.APPROVED
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE and ALICE_EMAIL in emails(stack, DM_GROUP)
    [approved] = await audit(stack, "request.approved")
    assert approved["details"]["approvers"] == sorted([BOB, CAROL])
    assert not has_buttons(stack.slack.message(APPROVAL_CHANNEL, msg["ts"]))


async def test_one_deny_denies_even_after_an_approval(make_stack: StackFactory) -> None:
    stack = await make_stack(TWO_APPROVALS)
    req, msg = await _request(stack, ALICE, "request two-man 1h rotate keys")
    await click(stack, BOB, msg, APPROVE)
    await click(stack, CAROL, stack.slack.message(APPROVAL_CHANNEL, msg["ts"]), DENY)
    assert (await request(stack, req.id)).state is RequestState.DENIED
    assert await grants(stack) == [] and stack.cloudflare.calls == []
    updated = stack.slack.message(APPROVAL_CHANNEL, msg["ts"])
    assert not has_buttons(updated) and "Denied" in all_text(updated) and "<@U0APPR02>" in all_text(updated)
    [dm] = [m for m in stack.slack.dms_to(ALICE) if "denied" in m["text"]]
    assert "<@U0APPR02>" in dm["text"] and req.id in dm["text"]
    [denied] = await audit(stack, "request.denied")
    assert denied["actor"] == CAROL


async def test_a_click_on_an_approved_request_changes_nothing_and_says_so(stack: Stack) -> None:
    req, msg = await _request(stack)
    await click(stack, BOB, msg, APPROVE)
    for user, action in ((CAROL, APPROVE), (CAROL, DENY), (BOB, DENY)):
        answer = await click(stack, user, msg, action)  # the message as the clicker's client still shows it
        assert answer is not None and "already approved" in all_text(answer), answer
    assert (await request(stack, req.id)).state is RequestState.APPROVED
    assert len(await grants(stack)) == 1
    assert len(await audit(stack, "request.approved")) == 1 and await audit(stack, "request.denied") == []
    codes = {r["details"]["code"] for r in await audit(stack, "approval.refused")}
    assert codes == {"already_decided"}
    assert len([c for c in stack.cloudflare.calls if c.method == "PUT"]) == 1


async def test_a_click_on_an_expired_request_changes_nothing_and_says_so(stack: Stack, clock: ManualClock) -> None:
    req, msg = await _request(stack)
    await advance(stack, clock, timedelta(hours=1))  # request_timeout: 1h
    assert (await request(stack, req.id)).state is RequestState.EXPIRED
    updated = stack.slack.message(APPROVAL_CHANNEL, msg["ts"])
    assert not has_buttons(updated) and "Expired" in all_text(updated)
    assert [m for m in stack.slack.dms_to(ALICE) if "expired without a decision" in m["text"]]
    answer = await click(stack, BOB, msg, APPROVE)
    assert answer is not None and "already expired" in all_text(answer)
    assert (await request(stack, req.id)).state is RequestState.EXPIRED
    assert await grants(stack) == [] and stack.cloudflare.calls == []
    assert [r["action"] for r in await audit(stack) if r["request_id"] == req.id and r["action"] != "request.created"] \
        == ["request.expired", "approval.refused"]


async def test_a_click_on_a_cancelled_request_changes_nothing_and_says_so(stack: Stack) -> None:
    req, msg = await _request(stack)
    await slash(stack, ALICE, f"cancel {req.id}")
    answer = await click(stack, BOB, msg, APPROVE)
    assert answer is not None and "already cancelled" in all_text(answer)
    assert (await request(stack, req.id)).state is RequestState.CANCELLED
    assert await grants(stack) == [] and stack.cloudflare.calls == []


async def test_without_an_approval_channel_each_approver_gets_one_dm_and_the_other_is_told_of_the_decision(
        make_stack: StackFactory) -> None:
    stack = await make_stack(DM_MODE)
    await slash(stack, ALICE, "request by-dm 1h need logs")
    req = await only_request(stack, ALICE)
    to_bob = await approval_message(stack, BOB)
    to_carol = await approval_message(stack, CAROL)
    assert len(top_level(stack, BOB)) == 1 and len(top_level(stack, CAROL)) == 1
    assert top_level(stack, APPROVAL_CHANNEL) == []
    assert req.id in all_text(to_bob) and req.id in all_text(to_carol)

    await click(stack, BOB, to_bob, APPROVE)
    assert ALICE_EMAIL in emails(stack, DM_GROUP)
    for user, dm in ((BOB, to_bob), (CAROL, to_carol)):
        assert not has_buttons(stack.slack.message(dm["channel"], dm["ts"])), f"{user}'s DM still has buttons"
    told = [m for m in stack.slack.messages(CAROL) if "nothing more is needed" in m["text"]]
    assert len(told) == 1 and "approved" in told[0]["text"] and "<@U0APPR01>" in told[0]["text"]
    assert not [m for m in stack.slack.messages(BOB) if "nothing more is needed" in m["text"]]


async def test_without_an_approval_channel_approvers_are_told_when_the_request_expires(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(DM_MODE)
    await slash(stack, ALICE, "request by-dm 1h need logs")
    to_bob = await approval_message(stack, BOB)
    await approval_message(stack, CAROL)
    await advance(stack, clock, timedelta(hours=1, seconds=1))
    for user in (BOB, CAROL):
        told = [m for m in stack.slack.messages(user) if "nothing more is needed" in m["text"]]
        assert len(told) == 1 and "expired" in told[0]["text"], user
    assert not has_buttons(stack.slack.message(to_bob["channel"], to_bob["ts"]))
    assert emails(stack, DM_GROUP) == [] and emails(stack, PROD_GROUP) == []

