"""In Slack as Slack drives it: approval re-checks the requester, approvers see an extension's total, and one
person filing too fast is told when to try again (in Slack and on /api)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState, RequestState
from bot.simulators.access_sim import AccessSimulator
from bot.simulators.stack import PROD_GROUP, STAGING_GROUP, Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVAL_CHANNEL,
    APPROVE,
    BOB,
    SECRETS_GROUP,
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
)
from tests.scenario.test_api import AUD, Api


async def _filed(stack: Stack, text: str) -> tuple[str, dict]:
    reply = await slash(stack, ALICE, text)
    assert "is waiting for" in all_text(reply), all_text(reply)
    return (await only_request(stack, ALICE)).id, await approval_message(stack)


async def test_a_requester_deactivated_in_slack_after_filing_is_denied_at_the_click(stack: Stack) -> None:
    request_id, msg = await _filed(stack, "request prod-db 1h deploy")
    stack.slack.add_user(ALICE, email=ALICE_EMAIL, name="alice", deleted=True)
    answer = await click(stack, BOB, msg, APPROVE)
    assert answer is not None and "closed as denied" in all_text(answer) and "deactivated" in all_text(answer)
    assert (await request(stack, request_id)).state is RequestState.DENIED
    assert await grants(stack) == [] and emails(stack, PROD_GROUP) == [] and stack.cloudflare.calls == []
    updated = stack.slack.message(APPROVAL_CHANNEL, msg["ts"])
    assert updated and not has_buttons(updated) and "deactivated" in all_text(updated)
    [denied] = await audit(stack, "request.denied")
    assert denied["details"]["recheck"] is True and denied["details"]["clicked_by"] == BOB


async def test_a_requester_removed_from_the_requesters_group_after_filing_is_denied_and_told(stack: Stack) -> None:
    stack.slack.add_usergroup("S0ENGINEERS", [ALICE])
    request_id, msg = await _filed(stack, "request secrets 1h rotate")
    stack.slack.add_usergroup("S0ENGINEERS", [])
    answer = await click(stack, BOB, msg, APPROVE)
    assert answer is not None
    assert f"<@{ALICE}> is no longer on the list of people who may request `secrets`" in all_text(answer)
    assert (await request(stack, request_id)).state is RequestState.DENIED
    assert emails(stack, SECRETS_GROUP) == []
    dm = stack.slack.dms_to(ALICE)[-1]["text"]
    assert f"`{request_id}`" in dm and "denied when it was checked again" in dm and "not on the list" in dm
    [refused] = await audit(stack, "approval.refused")
    assert refused["actor"] == BOB and refused["details"]["code"] == "not_allowed"


async def test_approvers_see_the_total_an_extension_would_make_and_when_it_would_end(
        stack: Stack, clock: ManualClock) -> None:
    _, msg = await _filed(stack, "request prod-db 3h deploy")
    await click(stack, BOB, msg, APPROVE)
    [grant] = await grants(stack)
    reply = await slash(stack, ALICE, f"extend {grant.id} 2h still deploying")
    assert "waiting for approval" in all_text(reply)
    ext = await approval_message(stack)
    assert grant.expires_at
    ends = int((grant.expires_at + timedelta(hours=2)).timestamp())
    assert f"to *5h in all*, ending <!date^{ends}^" in all_text(ext)
    assert "allows at most 8h" in all_text(ext)
    second = await slash(stack, ALICE, f"extend {grant.id} 1h more")
    assert "already has an extension waiting for approval" in all_text(second)


async def test_one_person_filing_too_fast_in_slack_is_told_when_to_try_again(make_stack: StackFactory) -> None:
    stack = await make_stack(settings_overrides={"accessbot_filing_limit": 2, "accessbot_filing_window": "5m"})
    for _ in range(2):  # request, revoke, request again: each filing counts
        assert "approved automatically" in all_text(await slash(stack, ALICE, "request staging 30m"))
        [grant] = [g for g in await grants(stack) if g.state is GrantState.ACTIVE]
        assert "is being revoked" in all_text(await slash(stack, ALICE, f"revoke {grant.id}"))
    calls = len(stack.cloudflare.calls)
    reply = all_text(await slash(stack, ALICE, "request staging 30m"))
    assert "filed 2 requests in the last 5m" in reply and "you can file again at 09:05:00 UTC (in 5m)" in reply
    assert len(stack.cloudflare.calls) == calls
    assert emails(stack, STAGING_GROUP) == []


@pytest.fixture
async def limited_api(make_stack: StackFactory) -> AsyncIterator[Api]:
    access = AccessSimulator(aud=AUD)
    team = await access.start()
    stack = await make_stack(settings_overrides={"accessbot_reconcile_interval": timedelta(0),
                                                 "cf_access_team_domain": team, "cf_access_aud": AUD,
                                                 "accessbot_filing_limit": 1})
    async with aiohttp.ClientSession() as http:
        yield Api(stack, access, http)
    await access.stop()


async def test_the_filing_limit_holds_on_the_api_too(limited_api: Api) -> None:
    status, body = await limited_api.call("POST", "/api/requests", limited_api.as_(),
                                          body={"role": "prod-db", "duration": "1h", "reason": "one"})
    assert status == 201, body
    await slash(limited_api.stack, ALICE, f"cancel {body['id']}")
    status, body = await limited_api.call("POST", "/api/requests", limited_api.as_(),
                                          body={"role": "prod-db", "duration": "1h", "reason": "two"})
    assert status >= 400 and body["error"] == "rate_limited", json.dumps(body)
    assert "you can file again at" in body["message"]
