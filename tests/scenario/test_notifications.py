"""What people see beyond the approval message: the expiry warning's Extend button, the App Home, and
Slack's own rate limits (spec §3 'Direct messages', 'App Home'; §4)."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState, RequestKind, RequestState
from bot.simulators.stack import Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    APPROVAL_CHANNEL,
    APPROVE,
    BASE_POLICY,
    BOB,
    DANA,
    EXTEND,
    advance,
    all_text,
    approval_message,
    audit,
    base_policy,
    click,
    emails,
    grants,
    has_buttons,
    only_request,
    settle,
    slash,
    top_level,
)


async def test_clicking_extend_on_the_expiry_warning_asks_for_more_time_and_its_approval_moves_the_expiry(
        stack: Stack, clock: ManualClock) -> None:
    t0 = clock.now()
    await slash(stack, ALICE, "request prod-db 1h deploy")
    await click(stack, BOB, await approval_message(stack), APPROVE)
    await advance(stack, clock, timedelta(minutes=50))
    [warning] = [m for m in stack.slack.dms_to(ALICE) if "ends" in m["text"]]
    await click(stack, ALICE, warning, EXTEND)
    await settle(stack)
    [modal] = stack.slack.modals(ALICE)  # the small Extend modal, the role's default filled in
    duration = next(b for b in modal["blocks"] if b.get("block_id") == "duration")
    assert duration["element"]["initial_value"] == "1h"
    resp = await stack.driver.view_submission(ALICE, modal, {
        "duration": {"value": {"type": "plain_text_input", "value": "1h"}},
        "reason": {"value": {"type": "plain_text_input", "value": "still deploying"}}})
    assert resp.status == 200 and not (resp.json or {}).get("errors")
    await settle(stack)

    extension = await only_request(stack, ALICE)
    assert extension.reason == "still deploying"
    assert extension.kind is RequestKind.EXTEND
    msgs = [m for m in top_level(stack, APPROVAL_CHANNEL) if has_buttons(m)]
    assert len(msgs) == 1 and extension.id in all_text(msgs[0])
    await click(stack, BOB, msgs[0], APPROVE)
    [grant] = await grants(stack)
    assert grant.expires_at == t0 + timedelta(hours=2)  # + the role's default duration (1h)
    assert len(await audit(stack, "grant.extended")) == 1

    await advance(stack, clock, timedelta(minutes=11))  # past the first expiry
    assert (await grants(stack))[0].state is GrantState.ACTIVE and emails(stack)
    assert len([m for m in stack.slack.dms_to(ALICE) if "ends" in m["text"]]) == 2, "the warning is re-armed"
    await advance(stack, clock, timedelta(hours=1))
    assert (await grants(stack))[0].state is GrantState.REVOKED and emails(stack) == []


async def test_the_app_home_shows_the_callers_grants_and_pending_requests(stack: Stack) -> None:
    await slash(stack, ALICE, "request staging 1h")
    await slash(stack, ALICE, "request prod-db 1h deploy")
    [grant] = await grants(stack)
    req = await only_request(stack, ALICE)
    await stack.driver.app_home_opened(ALICE)
    await settle(stack)
    home = stack.slack.home(ALICE)
    assert home is not None and grant.id in all_text(home) and req.id in all_text(home)
    await stack.driver.app_home_opened(BOB)  # an approver sees the requests waiting for them
    await settle(stack)
    assert req.id in all_text(stack.slack.home(BOB))


async def test_the_app_home_is_refreshed_when_a_grant_changes(stack: Stack) -> None:
    await stack.driver.app_home_opened(ALICE)
    await settle(stack)
    assert stack.slack.count("views.publish") == 1
    await slash(stack, ALICE, "request staging 1h")
    [grant] = await grants(stack)
    assert grant.id in all_text(stack.slack.home(ALICE))


async def test_a_slack_rate_limit_on_the_approval_post_is_honoured_and_the_message_still_arrives(
        make_stack: StackFactory, clock: ManualClock) -> None:
    # without an audit channel the approval message is the first chat.postMessage, the one rate limited
    stack = await make_stack(BASE_POLICY)
    assert stack.policy.audit_channel is None
    stack.slack.fail_next("chat.postMessage", n=1, error="ratelimited", retry_after=3)
    await slash(stack, ALICE, "request prod-db 1h deploy")
    assert top_level(stack, APPROVAL_CHANNEL) == []
    await advance(stack, clock, timedelta(seconds=2))
    assert top_level(stack, APPROVAL_CHANNEL) == [], "retried before Retry-After"
    await advance(stack, clock, timedelta(seconds=1.5))
    msg = await approval_message(stack)
    assert (await only_request(stack, ALICE)).id in all_text(msg)
    assert len(top_level(stack, APPROVAL_CHANNEL)) == 1
    assert [c.response.get("error") for c in stack.slack.calls_to("chat.postMessage")] == ["ratelimited", None]


async def test_ids_shown_to_people_are_short_and_copyable(stack: Stack) -> None:
    reply = await slash(stack, ALICE, "request staging 1h")
    [grant] = await grants(stack)
    assert re.fullmatch(r"g-[0-9A-Z]{4,8}", grant.id) and grant.id in all_text(reply)
    reply = await slash(stack, ALICE, "request prod-db 1h deploy")
    req = await only_request(stack, ALICE, RequestState.PENDING)
    assert re.fullmatch(r"r-[0-9A-Z]{4,8}", req.id) and req.id in all_text(reply)


async def test_an_approval_message_slack_refuses_for_good_is_told_to_the_requester_and_the_admins(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(BASE_POLICY)
    stack.slack.fail_next("chat.postMessage", n=1, error="not_in_channel")
    await slash(stack, ALICE, "request prod-db 1h deploy")
    req = await only_request(stack, ALICE)
    assert top_level(stack, APPROVAL_CHANNEL) == []
    [told] = [m for m in stack.slack.dms_to(ALICE) if "could not be shown" in m["text"]]
    said = told["text"].replace("\u200b", "")
    assert req.id in said and "not_in_channel" in said and "/access pending" in said
    [alert] = [m for m in stack.slack.dms_to(DANA) if "could not be posted" in m["text"]]
    assert req.id in alert["text"] and "approval channel" in alert["text"]
    # the request is still open, and an approver can still decide it
    assert req.id in all_text(await slash(stack, BOB, "pending"))
    await slash(stack, BOB, f"approve {req.id}")
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE


async def test_a_slack_outage_shorter_than_an_hour_loses_no_approval_message(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(BASE_POLICY)
    stack.slack.fail_next("chat.postMessage", n=10_000, error="internal_error", status=500)
    await slash(stack, ALICE, "request prod-db 1h deploy")
    for _ in range(10):  # fifty minutes of Slack failing every post
        await advance(stack, clock, timedelta(minutes=5))
    assert top_level(stack, APPROVAL_CHANNEL) == []
    failed = len(stack.slack.calls_to("chat.postMessage"))
    assert 10 <= failed <= 40, "retried with backoff, neither hammering Slack nor waiting idle"
    stack.slack.clear_faults()
    await advance(stack, clock, timedelta(minutes=5, seconds=30))
    msg = await approval_message(stack)
    assert (await only_request(stack, ALICE)).id in all_text(msg)
    assert not [m for m in stack.slack.dms_to(ALICE) if "could not be shown" in m["text"]]


async def test_an_approval_message_still_failing_after_an_hour_is_given_up_loudly(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(base_policy(request_timeout="24h"))
    stack.slack.fail_next("chat.postMessage", n=10_000, error="internal_error", status=500)
    await slash(stack, ALICE, "request prod-db 1h deploy")
    for _ in range(14):
        await advance(stack, clock, timedelta(minutes=5))
    stack.slack.clear_faults()
    await advance(stack, clock, timedelta(minutes=1))
    assert top_level(stack, APPROVAL_CHANNEL) == [], "given up after an hour of failing"
    assert [m for m in stack.slack.dms_to(ALICE) if "could not be shown" in m["text"]]
    assert [m for m in stack.slack.dms_to(DANA) if "could not be posted" in m["text"]]
