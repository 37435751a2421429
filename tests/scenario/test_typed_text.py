"""Typed text that used to crash: a NUL byte in a reason (PostgreSQL text cannot hold one), a duration of
thousands of digits, a negative duration taken as the start of the reason. Over Slack and /api."""

from __future__ import annotations

from bot.domain.model import RequestState
from bot.simulators.stack import Stack
from tests.scenario.helpers import ALICE, all_requests, grants, request, settle, slash
from tests.scenario.test_api import Api, api  # noqa: F401 - the /api fixture

NUL_REASON = "db\x00 migration\x07 \x1b[31mred\x1b[0m\r\nline two"
CLEANED = "db migration [31mred[0m\nline two"


async def test_a_nul_byte_in_a_slack_reason_is_dropped_and_the_request_filed(stack: Stack) -> None:
    reply = await slash(stack, ALICE, f"request staging 1h {NUL_REASON}")
    assert "staging" in reply["text"] and not reply["text"].startswith(":warning:"), reply
    [grant] = await grants(stack, requester=ALICE)
    assert (await request(stack, grant.request_id)).reason == CLEANED


async def test_a_nul_byte_in_a_modal_reason_is_dropped_and_the_request_filed(stack: Stack) -> None:
    resp = await stack.driver.slash(ALICE, "")
    assert resp.status == 200
    await settle(stack)
    [modal] = stack.slack.modals(ALICE)
    values = {"role": {"value": {"type": "static_select", "selected_option": {"value": "staging"}}},
              "duration": {"value": {"type": "plain_text_input", "value": "1h\x00"}},
              "reason": {"value": {"type": "plain_text_input", "value": NUL_REASON}}}
    resp = await stack.driver.view_submission(ALICE, modal, values)
    assert resp.status == 200 and not resp.body, resp.body
    await settle(stack)
    [grant] = await grants(stack, requester=ALICE)
    assert (await request(stack, grant.request_id)).reason == CLEANED


async def test_a_nul_byte_in_an_api_reason_is_dropped_and_the_request_filed(api: Api) -> None:  # noqa: F811
    status, body = await api.call("POST", "/api/requests", api.as_(),
                                  body={"role": "staging", "duration": "1h", "reason": NUL_REASON})
    assert status == 201, body
    assert body["reason"] == CLEANED


async def test_a_duration_of_thousands_of_digits_is_refused_in_slack_and_over_api(
        api: Api) -> None:  # noqa: F811
    reply = await slash(api.stack, ALICE, "request staging " + "9" * 4400 + "s why")
    assert reply["text"].startswith(":warning:") and "longer than a year" in reply["text"], reply["text"][:300]
    status, body = await api.call("POST", "/api/requests", api.as_(),
                                  body={"role": "staging", "duration": "9" * 4400 + "s", "reason": "x"})
    assert status == 400 and "longer than a year" in body["message"], body
    assert await all_requests(api.stack) == []


async def test_a_negative_duration_is_refused_not_taken_as_the_reason(stack: Stack) -> None:
    for text in ("request prod-db -5m x", "request prod-db 1.5h x", "request prod-db 5y x"):
        reply = await slash(stack, ALICE, text)
        assert reply["text"].startswith(":warning:") and "not a duration" in reply["text"], reply["text"]
    assert [r for r in await all_requests(stack) if r.state is RequestState.PENDING] == []


async def test_a_zero_duration_is_refused(stack: Stack) -> None:
    reply = await slash(stack, ALICE, "request prod-db 0m x")
    assert reply["text"].startswith(":warning:"), reply["text"]
    assert await all_requests(stack) == []

