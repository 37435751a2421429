"""Approve and Deny clicks, on the in-memory unit of work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.model import RequestState, VoteChoice
from bot.domain.wording import explain
from bot.services import approval, requests
from tests.unit.services.world import World, make_world

HOUR = timedelta(hours=1)
APPROVE, DENY = VoteChoice.APPROVE, VoteChoice.DENY


@pytest.fixture
def world() -> World:
    """A fresh in-memory world."""
    return make_world()


async def _file(world: World, role: str = "prod-db", user: str = "U0ALICE") -> str:
    """File a request and return its ID."""
    out = await requests.submit(world.deps, user, role, HOUR, "incident 4211")
    assert out.ok, explain(out)
    return out.data["request_id"]  # type: ignore[index]


async def test_an_approval_approves_the_request_and_makes_a_pending_grant_owing_a_group_add(world: World) -> None:
    rid = await _file(world)
    out = await approval.vote(world.deps, rid, "U0APPR01", APPROVE)
    assert out.ok, explain(out)
    req = await world.request(rid)
    assert req.state is RequestState.APPROVED and req.decided_by == "U0APPR01" and len(req.votes) == 1
    async with world.store.tx() as tx:
        [grant] = await tx.grants.find(request_id=rid)
    assert grant.state.value == "pending" and grant.email == "alice@example.com"
    assert world.store.actions() == ["request.created", "request.vote", "request.approved"]
    assert len(world.store.effects("cf.sync")) == 1


async def test_a_requester_cannot_approve_their_own_request(world: World) -> None:
    rid = await _file(world, user="U0APPR02")
    out = await approval.vote(world.deps, rid, "U0APPR02", APPROVE)
    assert not out.ok and out.code == "self_approval"
    assert (await world.request(rid)).state is RequestState.PENDING


async def test_someone_not_listed_cannot_approve(world: World) -> None:
    rid = await _file(world)
    out = await approval.vote(world.deps, rid, "U0BOB", APPROVE)
    assert not out.ok and out.code == "not_an_approver"


async def test_a_two_approval_role_needs_two_different_approvers(world: World) -> None:
    rid = await _file(world, "two-man")
    assert (await approval.vote(world.deps, rid, "U0APPR01", APPROVE)).ok
    assert (await world.request(rid)).state is RequestState.PENDING
    again = await approval.vote(world.deps, rid, "U0APPR01", APPROVE)
    assert not again.ok and again.code == "already_voted"
    assert (await approval.vote(world.deps, rid, "U0APPR02", APPROVE)).ok
    assert (await world.request(rid)).state is RequestState.APPROVED


async def test_a_deny_closes_the_request_and_tells_the_requester(world: World) -> None:
    rid = await _file(world)
    out = await approval.vote(world.deps, rid, "U0APPR01", DENY, "not now")
    assert out.ok and out.code == "denied"
    req = await world.request(rid)
    assert req.state is RequestState.DENIED and req.decision_note == "not now"
    assert [e["payload"]["event"] for e in world.store.effects("notify.user")] == ["denied"]
    later = await approval.vote(world.deps, rid, "U0APPR02", APPROVE)
    assert not later.ok and later.code == "already_decided"


async def test_a_click_on_a_timed_out_request_closes_it_as_expired(world: World) -> None:
    rid = await _file(world)
    world.clock.advance(timedelta(hours=25))
    out = await approval.vote(world.deps, rid, "U0APPR01", APPROVE)
    assert not out.ok and out.code == "request_expired"
    assert (await world.request(rid)).state is RequestState.EXPIRED


async def test_an_approval_of_a_requester_deleted_since_filing_denies_the_request(world: World) -> None:
    rid = await _file(world)
    world.directory.users["U0ALICE"]["deleted"] = True
    out = await approval.vote(world.deps, rid, "U0APPR01", APPROVE)
    assert not out.ok
    req = await world.request(rid)
    assert req.state is RequestState.DENIED and req.decided_by == "system"
    async with world.store.tx() as tx:
        assert await tx.grants.find(request_id=rid) == []


async def test_a_vote_on_an_unknown_request_is_refused_and_audited(world: World) -> None:
    out = await approval.vote(world.deps, "r-NOPE2345", "U0APPR01", APPROVE)
    assert not out.ok and out.code == "unknown_request"
    assert world.store.actions() == ["approval.refused"]


async def test_a_click_on_a_request_decided_long_ago_is_refused_and_audited_in_one_transaction(world: World) -> None:
    rid = await _file(world)
    assert (await approval.vote(world.deps, rid, "U0APPR01", DENY)).ok
    commits = world.store.commits
    late = await approval.vote(world.deps, rid, "U0APPR02", APPROVE)
    assert not late.ok and late.code == "already_decided" and late.facts["decided_by"] == "U0APPR01"
    assert world.store.commits == commits + 1  # the read that found it decided also audited the refusal
    [refused] = [r for r in world.store.db.audit if r["action"] == "approval.refused"]
    assert refused["actor"] == "U0APPR02" and refused["details"]["code"] == "already_decided"
