"""Slack work at Slack's pace, through the real app: the bot stays inside Slack's documented limits (the
simulator enforcing them gets no 429), and a 429 on one method holds back neither other methods nor other
conversations."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.simulators.stack import Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    APPROVAL_CHANNEL,
    AUDITED_POLICY,
    BOB,
    CAROL,
    DANA,
    MALLORY,
    advance,
    approval_message,
    audit_lines,
    has_buttons,
    only_request,
    settle,
    slash,
    top_level,
)


async def test_a_429_on_chat_update_holds_back_neither_the_requesters_dm_nor_other_methods(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack()
    await slash(stack, ALICE, "request prod-db 1h deploy")
    req = await only_request(stack, ALICE)
    stack.slack.fail_next("chat.update", retry_after=2)
    await slash(stack, BOB, f"approve {req.id}")
    assert any(req.id in m["text"] or "active" in m["text"] for m in stack.slack.dms_to(ALICE)), \
        "the DM waited for the rate-limited chat.update"
    assert stack.slack.count("chat.update") == 1
    assert has_buttons(await approval_message(stack))  # not updated yet: chat.update waits for Retry-After
    await slash(stack, DANA, "request prod-db 1h migrate")  # another conversation's chat.postMessage goes
    assert len(top_level(stack, APPROVAL_CHANNEL)) == 2

    await advance(stack, clock, timedelta(seconds=3))  # past Retry-After (on the bot's clock, as its retries)
    first = top_level(stack, APPROVAL_CHANNEL)[0]
    assert not has_buttons(stack.slack.message(APPROVAL_CHANNEL, first["ts"]))
    notes = [m["text"] for m in stack.slack.messages(APPROVAL_CHANNEL) if m["thread_ts"] == first["ts"]]
    assert any("Granted" in n for n in notes), notes  # the thread note waited behind the refresh, in order


async def drained(stack: Stack, clock: ManualClock, done: Callable[[], bool]) -> None:
    """Let the bot work until `done()`: a notice the pacer held back for its turn is retried a few (real) seconds
    later, by the bot's clock, which only this moves."""
    for _ in range(60):
        if done():
            return
        await asyncio.sleep(0.5)
        await advance(stack, clock, timedelta(seconds=5))
    raise AssertionError("the Slack notices did not drain")


async def test_the_bot_gets_no_429_from_a_slack_enforcing_its_documented_limits(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(AUDITED_POLICY)
    stack.slack.rates.enabled = True
    people = (ALICE, CAROL, DANA, MALLORY)
    # four approval messages and four thread notes, each four at once in one channel, and a line per audit event
    # in the audit channel (four at once there come in a digest): well past Slack's burst
    await asyncio.gather(*(stack.driver.slash(user, "request prod-db 1h deploy") for user in people))
    await settle(stack, timeout=40)
    reqs = [await only_request(stack, user) for user in people]
    await asyncio.gather(*(stack.driver.slash(BOB, f"approve {req.id}") for req in reqs))
    await settle(stack, timeout=40)
    await drained(stack, clock, lambda: len([m for m in stack.slack.messages(APPROVAL_CHANNEL) if m["thread_ts"]]) == 4)
    assert stack.slack.rates.limited == []
    assert len(audit_lines(stack)) >= 12
    posted = top_level(stack, APPROVAL_CHANNEL)
    assert len(posted) == 4 and not any(has_buttons(stack.slack.message(APPROVAL_CHANNEL, m["ts"])) for m in posted)
    notes = [m for m in stack.slack.messages(APPROVAL_CHANNEL) if m["thread_ts"]]
    assert len(notes) == 4
    assert stack.bot.slack.pacer.waited > 0  # it had to wait for Slack's pace: the limit was really reached
