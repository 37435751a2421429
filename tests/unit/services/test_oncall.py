"""On-call approval (a role's `oncall` key) on the in-memory unit of work, with PagerDuty faked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.errors import PermanentError, TransientError
from bot.domain.model import RequestState, VoteChoice
from bot.domain.outcomes import AutoApproved, Filed
from bot.domain.wording import explain
from bot.services import approval, requests
from tests.fakes import FakeOnCall
from tests.policies import policy_text, role
from tests.unit.services.world import GROUP, GROUP2, World, make_world

HOUR = timedelta(hours=1)
APPROVE = VoteChoice.APPROVE
POLICY = policy_text({
    "prod-db": role(GROUP, approvers=["U0APPR01"],
                    oncall="{provider: pagerduty, schedule_ids: [PSCHED1, PSCHED2], auto_approve: true}"),
    "ask-oncall": role(GROUP2, approvers=["U0APPR01"],
                       oncall="{provider: pagerduty, schedule_ids: [PSCHED1], auto_approve: false}"),
}, defaults={"request_timeout": "24h"})


@pytest.fixture
def pd() -> FakeOnCall:
    """PagerDuty, with nobody on call yet."""
    return FakeOnCall()


@pytest.fixture
def world(pd: FakeOnCall) -> World:
    """The world with the on-call roles and the fake PagerDuty wired in."""
    w = make_world(POLICY)
    w.deps.oncall = pd
    return w


def _audit(world: World, action: str) -> list[dict]:
    """The committed audit rows of one action."""
    return [r for r in world.store.db.audit if r["action"] == action]


async def test_a_requester_on_call_in_one_of_the_schedules_is_approved_at_once(world: World, pd: FakeOnCall) -> None:
    pd.put("PSCHED2", "alice@example.com")
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "incident 4211")
    assert isinstance(out, AutoApproved), explain(out)
    assert (await world.request(out.request_id)).state is RequestState.APPROVED
    [approved] = _audit(world, "request.approved")
    assert approved["actor"] == "system"
    assert approved["details"] == {"auto": True, "approvers": [], "oncall": True, "provider": "pagerduty",
                                   "schedule": "PSCHED2"}
    [dm] = [e for e in world.store.effects("notify.user") if e["payload"]["event"] == "oncall_approved"]
    assert dm["payload"]["user"] == "U0ALICE" and dm["payload"]["schedule"] == "PSCHED2"
    assert world.store.effects("approval.post") == [] and len(world.store.effects("cf.sync")) == 1
    assert pd.asked == [("PSCHED1", "PSCHED2")]


async def test_a_requester_not_on_call_goes_to_the_roles_approvers(world: World, pd: FakeOnCall) -> None:
    pd.put("PSCHED1", "bob@example.com")
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "incident 4211")
    assert isinstance(out, Filed), explain(out)
    assert (await world.request(out.request_id)).state is RequestState.PENDING
    assert len(world.store.effects("approval.post")) == 1 and _audit(world, "oncall.unavailable") == []
    assert (await approval.vote(world.deps, out.request_id, "U0APPR01", APPROVE)).ok


@pytest.mark.parametrize("error", [TransientError("PagerDuty rate limit (HTTP 429)", status=429, retry_after=30),
                                   PermanentError("PagerDuty refused GET /oncalls (HTTP 401)", status=401),
                                   TransientError("PagerDuty did not answer GET /oncalls in time")])
async def test_pagerduty_failing_means_the_normal_approvers_and_an_audited_reason(world: World, pd: FakeOnCall,
                                                                                  error: Exception) -> None:
    pd.put("PSCHED1", "alice@example.com")
    pd.fail = error  # type: ignore[assignment]
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "incident 4211")
    assert isinstance(out, Filed), explain(out)
    [event] = _audit(world, "oncall.unavailable")
    assert event["request_id"] == out.request_id and event["details"]["error"]["status"] == error.status
    assert event["details"]["schedule_ids"] == ["PSCHED1", "PSCHED2"]
    assert len(world.store.effects("approval.post")) == 1


async def test_no_pagerduty_client_is_treated_as_pagerduty_unavailable(world: World) -> None:
    world.deps.oncall = None
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "incident 4211")
    assert isinstance(out, Filed)
    assert "not configured" in _audit(world, "oncall.unavailable")[0]["details"]["error"]["message"]


async def test_without_auto_approve_the_on_call_people_become_approvers_and_are_asked(world: World,
                                                                                     pd: FakeOnCall) -> None:
    pd.put("PSCHED1", "appr02@example.com", "alice@example.com", "stranger@example.com")
    out = await requests.submit(world.deps, "U0ALICE", "ask-oncall", HOUR, "incident 4211")
    assert isinstance(out, Filed), explain(out)
    async with world.store.tx() as tx:
        listed = await tx.requests.oncall_approvers(out.request_id)
        waiting = await requests.pending_for(world.deps, tx, "U0APPR02")
    # the requester is on call too, but may not approve their own request; nobody in Slack has the third email
    assert [(a.user, a.schedule_id) for a in listed] == [("U0APPR02", "PSCHED1")]
    assert [r.id for r in waiting] == [out.request_id]
    [event] = _audit(world, "request.oncall_approvers")
    assert event["details"]["approvers"] == ["U0APPR02"] and event["details"]["not_in_slack"] == [
        "stranger@example.com"]
    assert [e["payload"] for e in world.store.effects("oncall.ask")] == [{"request_id": out.request_id}]
    voted = await approval.vote(world.deps, out.request_id, "U0APPR02", APPROVE)
    assert voted.ok, explain(voted)
    assert (await world.request(out.request_id)).state is RequestState.APPROVED


async def test_an_on_call_approver_who_is_no_longer_on_call_cannot_vote(world: World, pd: FakeOnCall) -> None:
    pd.put("PSCHED1", "appr02@example.com")
    out = await requests.submit(world.deps, "U0ALICE", "ask-oncall", HOUR, "incident 4211")
    pd.put("PSCHED1", "bob@example.com")  # the shift changed
    voted = await approval.vote(world.deps, out.request_id, "U0APPR02", APPROVE)
    assert not voted.ok and voted.code == "no_longer_on_call"
    assert "no longer" in explain(voted) and "PSCHED1" in explain(voted)
    assert (await world.request(out.request_id)).state is RequestState.PENDING
    assert _audit(world, "approval.refused")[-1]["details"]["code"] == "no_longer_on_call"
    assert (await approval.vote(world.deps, out.request_id, "U0APPR01", APPROVE)).ok  # the role's approver still can


async def test_an_on_call_approvers_vote_is_refused_while_pagerduty_cannot_confirm(world: World,
                                                                                   pd: FakeOnCall) -> None:
    pd.put("PSCHED1", "appr02@example.com")
    out = await requests.submit(world.deps, "U0ALICE", "ask-oncall", HOUR, "incident 4211")
    pd.fail = TransientError("PagerDuty unreachable: ConnectError")
    voted = await approval.vote(world.deps, out.request_id, "U0APPR02", APPROVE)
    assert not voted.ok and voted.code == "no_longer_on_call" and "could not confirm" in explain(voted)
    assert _audit(world, "oncall.unavailable")[-1]["details"]["voter"] == "U0APPR02"


async def test_pagerduty_is_not_asked_for_a_voter_who_is_one_of_the_roles_approvers(world: World,
                                                                                   pd: FakeOnCall) -> None:
    pd.put("PSCHED1", "appr02@example.com")
    out = await requests.submit(world.deps, "U0ALICE", "ask-oncall", HOUR, "incident 4211")
    asked = len(pd.asked)
    assert (await approval.vote(world.deps, out.request_id, "U0APPR01", APPROVE)).ok
    assert len(pd.asked) == asked


async def test_someone_who_was_never_an_on_call_approver_is_refused_as_before(world: World, pd: FakeOnCall) -> None:
    pd.put("PSCHED1", "bob@example.com")
    out = await requests.submit(world.deps, "U0ALICE", "ask-oncall", HOUR, "incident 4211")
    voted = await approval.vote(world.deps, out.request_id, "U0APPR02", APPROVE)
    assert not voted.ok and voted.code == "not_an_approver"


async def test_an_auto_approve_role_never_asks_pagerduty(pd: FakeOnCall) -> None:
    w = make_world(policy_text({"fast": role(GROUP, auto_approve=True, require_reason=False,
                                             oncall="{provider: pagerduty, schedule_ids: [PSCHED1]}")}))
    w.deps.oncall = pd
    assert isinstance(await requests.submit(w.deps, "U0ALICE", "fast", HOUR, ""), AutoApproved)
    assert pd.asked == []
