"""Slack notices keyed by conversation keep the order that matters: a thread note about a request waits for
its approval message, even when posting that message has to be retried."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    APPROVAL_CHANNEL,
    BASE_POLICY,
    BOB,
    advance,
    grants,
    only_request,
    slash,
    top_level,
)


async def test_a_grant_note_waits_for_the_approval_message_whose_post_failed_and_lands_in_its_thread(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(BASE_POLICY)
    stack.slack.fail_next("chat.postMessage", n=1, error="internal_error", status=500)
    await slash(stack, ALICE, "request prod-db 1h deploy")
    req = await only_request(stack, ALICE)
    assert top_level(stack, APPROVAL_CHANNEL) == []  # the post failed and waits for its retry
    await slash(stack, BOB, f"approve {req.id}")  # granted before the approval message exists
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE
    for _ in range(3):
        await advance(stack, clock, timedelta(seconds=5))
    [msg] = top_level(stack, APPROVAL_CHANNEL)  # posted once, after the grant: no buttons left on it
    assert req.id in msg["text"]
    notes = [m["text"] for m in stack.slack.messages(APPROVAL_CHANNEL) if m["thread_ts"] == msg["ts"]]
    assert any("Granted" in n and grant.id in n for n in notes), notes
