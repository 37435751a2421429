"""On-call approval over the real app: PagerDuty (its simulator) says who is on call; Slack drives the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from bot.domain.model import GrantState, RequestState
from bot.simulators.access_sim import AccessSimulator
from bot.simulators.stack import ACCOUNT, Stack
from tests.pagerduty_schema import request_problems, response_problems
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVAL_CHANNEL,
    APPROVE,
    BOB,
    CAROL,
    DM_GROUP,
    SHARED_GROUP,
    all_requests,
    all_text,
    approval_message,
    audit,
    click,
    emails,
    grants,
    only_request,
    policy_with,
    slash,
    top_level,
)

ONCALL_POLICY = policy_with(f"""
oncall-db:
  description: Production database, on call
  group_id: {SHARED_GROUP}
  account_id: {ACCOUNT}
  approvers: [U0APPR01]
  approval_channel: {APPROVAL_CHANNEL}
  oncall: {{provider: pagerduty, schedule_ids: [PSCHED1], auto_approve: true}}
ask-oncall:
  description: Asks whoever is on call
  group_id: {DM_GROUP}
  account_id: {ACCOUNT}
  approvers: [U0APPR01]
  approval_channel: {APPROVAL_CHANNEL}
  oncall: {{provider: pagerduty, schedule_ids: [PSCHED1], auto_approve: false}}
""")


@pytest.fixture
async def oncall_stack(make_stack: StackFactory) -> AsyncIterator[Stack]:
    """The bot with the on-call roles; afterwards, every exchange with PagerDuty fits PagerDuty's own schema."""
    stack = await make_stack(ONCALL_POLICY)
    yield stack
    assert stack.pagerduty is not None
    for ex in stack.pagerduty.traffic:
        assert request_problems(ex.path, ex.query, ex.headers) == [], ex
        assert response_problems(ex.path, ex.status, ex.body,
                                 include_users=("include[]", "users") in ex.query) == [], ex


async def test_a_requester_on_call_is_granted_at_once_and_told_why(oncall_stack: Stack) -> None:
    stack = oncall_stack
    assert stack.pagerduty is not None
    stack.pagerduty.set_on_call("PSCHED1", ["P0APPR02", "P0ALICE"])
    reply = await slash(stack, ALICE, "request oncall-db 1h incident 4211")
    assert "approved automatically" in all_text(reply)
    [grant] = await grants(stack, role="oncall-db")
    assert grant.state is GrantState.ACTIVE and ALICE_EMAIL in emails(stack, SHARED_GROUP)
    dm = "\n".join(all_text(m) for m in stack.slack.dms_to(ALICE))
    assert "on call in PagerDuty schedule `PSCHED1`" in dm
    [approved] = await audit(stack, "request.approved")
    assert approved["details"]["oncall"] is True and approved["details"]["schedule"] == "PSCHED1"
    assert [m for m in top_level(stack, APPROVAL_CHANNEL)] == []  # nobody had to be asked
    assert len(stack.pagerduty.traffic) == 1


async def test_a_requester_not_on_call_waits_for_the_roles_approvers(oncall_stack: Stack) -> None:
    stack = oncall_stack
    assert stack.pagerduty is not None
    stack.pagerduty.set_on_call("PSCHED1", ["P0APPR02"])
    reply = await slash(stack, ALICE, "request oncall-db 1h incident 4211")
    assert "waiting" in all_text(reply)
    msg = await approval_message(stack)
    await click(stack, BOB, msg, APPROVE)
    assert (await only_request(stack, ALICE, RequestState.APPROVED)).role == "oncall-db"


@pytest.mark.parametrize("fault", ["401", "429", "500", "down"])
async def test_pagerduty_failing_never_fails_the_request_it_goes_to_the_approvers(oncall_stack: Stack,
                                                                                  fault: str) -> None:
    stack = oncall_stack
    assert stack.pagerduty is not None
    stack.pagerduty.set_on_call("PSCHED1", ["P0ALICE"])
    if fault == "down":
        await stack.pagerduty.stop()
    else:
        stack.pagerduty.fail_next(int(fault), times=2, retry_after="60" if fault == "429" else None)
    reply = await slash(stack, ALICE, "request oncall-db 1h incident 4211")
    assert "waiting" in all_text(reply)
    req = await only_request(stack, ALICE)
    [event] = await audit(stack, "oncall.unavailable")
    assert event["request_id"] == req.id and event["details"]["then"] == "the role's approvers decide"
    assert (await approval_message(stack))["ts"]


async def test_the_person_on_call_is_asked_by_dm_and_their_approval_grants(oncall_stack: Stack) -> None:
    stack = oncall_stack
    assert stack.pagerduty is not None
    stack.pagerduty.set_on_call("PSCHED1", ["P0APPR02"])
    await slash(stack, ALICE, "request ask-oncall 1h incident 4211")
    asked = await approval_message(stack, CAROL)
    assert "on call (PagerDuty schedule `PSCHED1`)" in all_text(asked)
    [added] = await audit(stack, "request.oncall_approvers")
    assert added["details"]["approvers"] == [CAROL]
    answer = await click(stack, CAROL, asked, APPROVE)
    assert answer is None or "approved" in all_text(answer)
    assert (await only_request(stack, ALICE, RequestState.APPROVED)).decided_by == CAROL
    assert ALICE_EMAIL in emails(stack, DM_GROUP)


async def test_an_on_call_approver_whose_shift_ended_cannot_approve(oncall_stack: Stack) -> None:
    stack = oncall_stack
    assert stack.pagerduty is not None
    stack.pagerduty.set_on_call("PSCHED1", ["P0APPR02"])
    await slash(stack, ALICE, "request ask-oncall 1h incident 4211")
    asked = await approval_message(stack, CAROL)
    stack.pagerduty.set_on_call("PSCHED1", ["P0ADMIN1"])
    answer = await click(stack, CAROL, asked, APPROVE)
    assert answer is not None and "no longer" in all_text(answer)
    assert (await only_request(stack, ALICE)).state is RequestState.PENDING


async def test_an_on_call_approver_may_read_the_request_in_the_api(make_stack: StackFactory) -> None:
    access = AccessSimulator(aud="aud-oncall")
    team = await access.start()
    try:
        stack = await make_stack(ONCALL_POLICY, settings_overrides={
            "accessbot_reconcile_interval": timedelta(0), "cf_access_team_domain": team,
            "cf_access_aud": "aud-oncall"})
        assert stack.pagerduty is not None
        stack.pagerduty.set_on_call("PSCHED1", ["P0MALLORY"])
        await slash(stack, ALICE, "request ask-oncall 1h incident 4211")
        await slash(stack, ALICE, "request oncall-db 1h incident 4212")
        by_role = {r.role: r for r in await all_requests(stack)}
        asked, plain = by_role["ask-oncall"], by_role["oncall-db"]
        async with aiohttp.ClientSession() as http:
            token = access.token("mallory@example.com", aud=["aud-oncall"])
            statuses = []
            for rid in (asked.id, plain.id):
                async with http.get(f"{stack.url}/api/requests/{rid}", headers={"Cf-Access-Jwt-Assertion": token}) \
                        as resp:
                    statuses.append(resp.status)
        assert statuses == [200, 403]  # asked as the on-call approver of one; nothing to do with the other
    finally:
        await access.stop()
