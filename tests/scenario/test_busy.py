"""ACCESSBOT_MAX_PENDING_WORK: beyond that much acked work in flight, commands and clicks are told "busy" at once
and nothing is queued; events are dropped; under the limit nothing changes (issue 10, item 5)."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from datetime import timedelta

import aiohttp
import pytest

from bot.domain.clock import ManualClock
from bot.domain.model import RequestState
from bot.polling import eventually
from bot.simulators.slack_driver import FORM, SlackDriver
from bot.simulators.stack import STAGING_GROUP, Stack, start_stack
from bot.slack import http_events
from bot.slack.busy import BUSY_TEXT
from bot.slack.inbound import parse_slack_body
from bot.slack.shedding import Shedding
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVE,
    BASE_POLICY,
    BOB,
    CAROL,
    all_requests,
    approval_message,
    emails,
    settle,
    slash,
)

LIMIT = 2
HOLD = 2.0  # seconds each held command's reply takes to reach Slack (the simulator answers it late)


async def _limited(make_stack: StackFactory) -> Stack:
    """A bot that takes at most LIMIT acked requests in flight."""
    return await make_stack(settings_overrides={"accessbot_reconcile_interval": timedelta(0),
                                                "accessbot_max_pending_work": LIMIT})


async def _hold_limit(stack: Stack) -> None:
    """LIMIT `/access help` commands acked and still working (their replies reach a slow Slack)."""
    stack.slack.delay_next("response_url", HOLD, n=LIMIT)
    for _ in range(LIMIT):
        resp = await stack.driver.slash(CAROL, "help")
        assert resp.status == 200 and resp.body == ""
    await _held(stack)


async def _held(stack: Stack) -> None:
    """Wait until LIMIT requests are in flight and their replies have reached Slack, which holds them.

    Until a held reply reaches Slack, a later reply to a response_url (a busy note) could be the one Slack holds."""
    await eventually(lambda: len(stack.bot.ingress.in_flight) == LIMIT
                     and stack.slack.faults_left("response_url") == 0, timeout=HOLD)


async def _busy_count(stack: Stack, kind: str) -> float:
    """accessbot_slack_busy_total{kind} as /metrics shows it (0 when absent)."""
    async with aiohttp.ClientSession() as session, session.get(stack.url + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(f'accessbot_slack_busy_total{{kind="{kind}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_a_command_beyond_the_limit_is_told_busy_in_its_ack_and_files_nothing(
        make_stack: StackFactory) -> None:
    stack = await _limited(make_stack)
    await _hold_limit(stack)
    resp = await stack.driver.slash(ALICE, "request staging 1h")
    assert resp.status == 200 and resp.elapsed < 3
    assert BUSY_TEXT in resp.body
    assert [m["text"] for m in stack.slack.ephemerals(ALICE)] == [BUSY_TEXT]
    await settle(stack)
    assert await all_requests(stack) == []
    assert ALICE_EMAIL not in emails(stack, STAGING_GROUP)
    assert await _busy_count(stack, "command") == 1
    # the held work finished and Slack answered the held commands; the limit frees up and the same command works
    assert len(stack.bot.ingress.in_flight) == 0
    reply = await slash(stack, ALICE, "request staging 1h")
    assert BUSY_TEXT not in reply["text"]
    assert ALICE_EMAIL in emails(stack, STAGING_GROUP)


async def test_a_click_beyond_the_limit_is_acked_then_told_busy_on_its_response_url_and_changes_nothing(
        make_stack: StackFactory) -> None:
    stack = await _limited(make_stack)
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    await _hold_limit(stack)
    resp = await stack.driver.click(BOB, msg, APPROVE)
    assert resp.status == 200 and resp.body == "" and resp.elapsed < 3
    await eventually(lambda: any(BUSY_TEXT in m["text"] for m in stack.slack.ephemerals(BOB)), timeout=HOLD)
    await settle(stack)
    [req] = await all_requests(stack)
    assert req.state == RequestState.PENDING
    assert await _busy_count(stack, "action") == 1


async def test_a_flood_past_the_detail_rate_is_answered_unparsed_counted_and_replays_are_still_refused(
        make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = await _limited(make_stack)
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    await _hold_limit(stack)
    stack.bot.ingress.shedding = Shedding(per_second=1, clock=lambda: 0.0)  # one detailed answer, never refilled
    parsed: list[str] = []

    def parse(text: str, content_type: str | None) -> dict:
        parsed.append(text)
        return parse_slack_body(text, content_type)

    monkeypatch.setattr(http_events, "parse_slack_body", parse)
    clicks = [await stack.driver.click(BOB, msg, APPROVE) for _ in range(3)]
    command = await stack.driver.slash(ALICE, "request staging 1h")
    assert len(parsed) == 1, "past the detail rate the bodies are not parsed"
    assert [(c.status, c.body) for c in clicks] == [(200, "")] * 3
    assert command.status == 200 and json.loads(command.body)["text"] == BUSY_TEXT
    payload = stack.driver._click_payload(BOB, msg, APPROVE)  # noqa: SLF001
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    headers = {"Content-Type": FORM, **stack.driver.sign(body)}
    assert [(await stack.driver.raw(body, headers)).status for _ in range(2)] == [200, 401], "a replay is refused"
    await settle(stack)
    assert [m["text"] for m in stack.slack.ephemerals(BOB)].count(f":hourglass: {BUSY_TEXT}") == 1, \
        "only the detailed answer gets a note"
    assert await _busy_count(stack, "action") == 4 and await _busy_count(stack, "command") == 1
    [req] = await all_requests(stack)
    assert req.state == RequestState.PENDING


async def test_an_app_home_event_beyond_the_limit_is_acked_and_dropped(make_stack: StackFactory) -> None:
    stack = await _limited(make_stack)
    await _hold_limit(stack)
    resp = await stack.driver.app_home_opened(ALICE)
    assert resp.status == 200
    await settle(stack)
    assert stack.slack.home(ALICE) is None
    assert await _busy_count(stack, "event") == 1
    await stack.driver.app_home_opened(ALICE)  # under the limit again: published
    await settle(stack)
    assert stack.slack.home(ALICE) is not None


async def test_under_the_limit_commands_run_as_before(make_stack: StackFactory) -> None:
    stack = await _limited(make_stack)
    stack.slack.delay_next("response_url", 0.5, n=LIMIT - 1)
    first = await stack.driver.slash(CAROL, "help")  # one held: still under the limit of two
    await eventually(lambda: len(stack.bot.ingress.in_flight) == LIMIT - 1, timeout=2)
    resp = await stack.driver.slash(ALICE, "request staging 1h")
    assert first.body == "" and resp.body == ""
    await asyncio.wait_for(settle(stack), 10)
    assert ALICE_EMAIL in emails(stack, STAGING_GROUP)
    assert await _busy_count(stack, "command") == 0


async def test_over_socket_mode_a_command_beyond_the_limit_gets_the_busy_answer_as_its_ack_payload(
        database_url: str, clock: ManualClock) -> None:
    stack = await start_stack(BASE_POLICY, database_url=database_url, clock=clock, max_sleep=0.2, socket_mode=True,
                              settings_overrides={"accessbot_reconcile_interval": timedelta(0),
                                                  "accessbot_max_pending_work": LIMIT})
    driver = SlackDriver("http://127.0.0.1:9", "not-used-in-socket-mode", stack.slack)
    try:
        stack.slack.delay_next("response_url", HOLD, n=LIMIT)
        for _ in range(LIMIT):
            assert (await driver.socket_slash(CAROL, "help")).ack["payload"] is None
        await _held(stack)
        result = await driver.socket_slash(ALICE, "request staging 1h")
        assert result.ack["payload"] == {"response_type": "ephemeral", "text": BUSY_TEXT}
        await settle(stack)
        assert await all_requests(stack) == []
    finally:
        await driver.close()
        await stack.stop()
