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
    EXTEND,
    advance,
    all_text,
    approval_message,
    audit,
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

    extension = await only_request(stack, ALICE)
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
