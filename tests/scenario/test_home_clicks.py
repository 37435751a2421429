"""Clicks on the App Home tab come without a response_url: the answer arrives as a DM, the Home view is
published again, and nothing is logged as a failure."""

from __future__ import annotations

import logging

import pytest

from bot.domain.model import RequestState
from bot.simulators.stack import Stack
from tests.scenario.helpers import ALICE, APPROVE, BOB, MALLORY, all_text, only_request, settle, slash


async def _home_of_approver(stack: Stack) -> tuple[str, dict]:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    req = await only_request(stack, ALICE)
    await stack.driver.app_home_opened(BOB)
    await settle(stack)
    home = stack.slack.home(BOB)
    assert home is not None and req.id in all_text(home)
    return req.id, home


async def test_an_approval_clicked_on_the_home_tab_is_confirmed_by_dm_and_the_home_is_refreshed(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    request_id, home = await _home_of_approver(stack)
    publishes = stack.slack.count("views.publish")
    dms = len(stack.slack.dms_to(BOB))
    with caplog.at_level(logging.WARNING):
        resp = await stack.driver.click_view(BOB, home, APPROVE, value=request_id)
        assert resp.status == 200
        await settle(stack)
    assert (await only_request(stack, ALICE, RequestState.APPROVED)).id == request_id
    answers = stack.slack.dms_to(BOB)[dms:]
    assert any(request_id in m["text"] or "approv" in m["text"].lower() for m in answers), answers
    assert stack.slack.count("views.publish") > publishes
    assert request_id not in all_text(stack.slack.home(BOB)), "the decided request left BOB's Home tab"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_refused_home_tab_click_is_told_by_dm(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    request_id, home = await _home_of_approver(stack)
    dms = len(stack.slack.dms_to(MALLORY))
    with caplog.at_level(logging.WARNING):
        await stack.driver.click_view(MALLORY, home, APPROVE, value=request_id)  # not an approver
        await settle(stack)
    answers = stack.slack.dms_to(MALLORY)[dms:]
    assert len(answers) == 1 and answers[0]["text"].startswith(":warning:"), answers
    assert (await only_request(stack, ALICE)).state is RequestState.PENDING
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_forged_home_tab_value_is_refused_by_dm(stack: Stack) -> None:
    request_id, home = await _home_of_approver(stack)
    await stack.driver.click_view(BOB, home, APPROVE, value=request_id, value_override="x`<!channel>`")
    await settle(stack)
    [answer] = stack.slack.dms_to(BOB)[-1:]
    assert "does not carry a request ID" in answer["text"]
    assert (await only_request(stack, ALICE)).state is RequestState.PENDING
