"""Values that come back from Slack are checked before use: a button value that is not an ID of the right
kind is refused (and audited) with an answer, and nothing built from it can ping, link or format in the
audit channel."""

from __future__ import annotations

import pytest

from bot.simulators.stack import Stack
from tests.scenario.helpers import (
    ALICE,
    APPROVE,
    AUDIT_CHANNEL,
    BOB,
    CANCEL,
    DENY,
    REVOKE,
    approval_message,
    audit,
    click,
    formatted_texts,
    grants,
    live_markup,
    only_request,
    settle,
    slash,
)

FORGED = ["x`<!channel>`", "<!here>", "r-<@U0APPR01>", "g-ZZZZ`*bold*`", "", " " * 3, "r-" + "A" * 200]


async def _no_live_markup_in_the_audit_channel(stack: Stack) -> None:
    await settle(stack)
    for message in stack.slack.messages(AUDIT_CHANNEL):
        for text in formatted_texts(message):
            text = text.replace("by <@U0APPR01>", "").replace("by <@U0ALICE>", "")  # the actor, mentioned on purpose
            assert live_markup(text) == [], f"live markup {live_markup(text)} in {text!r}"


@pytest.mark.parametrize("action", [APPROVE, DENY])
async def test_a_forged_vote_value_is_refused_audited_and_cannot_ping_the_audit_channel(
        audited_stack: Stack, action: str) -> None:
    stack = audited_stack
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    for value in FORGED:
        answer = await click(stack, BOB, msg, action, value_override=value)
        assert answer is not None and "does not carry a request ID" in answer["text"], (value, answer)
    refused = [r for r in await audit(stack, "request.refused") if r["details"]["code"] == "bad_value"]
    assert len(refused) == len(FORGED)
    assert (await only_request(stack, ALICE)).state.value == "pending"
    await _no_live_markup_in_the_audit_channel(stack)


async def test_forged_revoke_and_cancel_values_are_refused(audited_stack: Stack) -> None:
    stack = audited_stack
    await slash(stack, ALICE, "request staging 1h")
    await slash(stack, ALICE, "request prod-db 1h deploy")
    listing = await slash(stack, ALICE, "list")
    for action, kind in ((REVOKE, "grant"), (CANCEL, "request")):
        for value in FORGED[:3]:
            answer = await click(stack, ALICE, listing, action, value_override=value)
            assert answer is not None and f"does not carry a {kind} ID" in answer["text"], (value, answer)
        # a request ID on a revoke button (or a grant ID on cancel) is the wrong kind
        wrong = (await only_request(stack, ALICE)).id if kind == "grant" else (await grants(stack))[0].id
        answer = await click(stack, ALICE, listing, action, value_override=wrong)
        assert answer is not None and f"does not carry a {kind} ID" in answer["text"]
    assert [g.state.value for g in await grants(stack)] == ["active"]
    await _no_live_markup_in_the_audit_channel(stack)


async def test_a_click_with_an_action_id_the_bot_never_made_is_refused_and_audited(stack: Stack) -> None:
    import json
    import urllib.parse

    from bot.simulators.slack_driver import FORM

    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    payload = stack.driver._click_payload(BOB, msg, APPROVE)  # noqa: SLF001
    payload["actions"][0]["action_id"] = "access_approve_everything`<!channel>`"
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    resp = await stack.driver.raw(body, {"Content-Type": FORM, **stack.driver.sign(body)})
    assert resp.status == 200
    await settle(stack)
    [answer] = stack.slack.ephemerals(BOB)
    assert "not one I know" in answer["text"]
    assert [r["details"]["code"] for r in await audit(stack, "request.refused")] == ["unknown_action"]
    assert (await only_request(stack, ALICE)).state.value == "pending"
