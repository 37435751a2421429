"""Filing, cancelling and timing out requests, on the in-memory unit of work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.lanes import LANE_CF_ADD
from bot.domain.model import RequestState
from bot.services import requests
from tests.fake_repos import FakeRequests
from tests.unit.services.world import World, make_world

HOUR = timedelta(hours=1)


@pytest.fixture
def world() -> World:
    """A fresh in-memory world."""
    return make_world()


async def test_a_filed_request_is_pending_audited_and_owes_an_approval_message(world: World) -> None:
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "incident 4211")
    assert out.ok and out.data is not None
    req = await world.request(out.data["request_id"])
    assert req.state is RequestState.PENDING and req.email == "alice@example.com"
    assert req.expires_at == world.clock.now() + timedelta(hours=24)
    assert world.store.actions() == ["request.created"]
    assert [e["payload"] for e in world.store.effects("approval.post")] == [{"request_id": req.id}]
    assert world.store.effects("home.refresh")[0]["payload"] == {"users": ["U0ALICE"], "approvers_of": req.id}


async def test_a_second_request_for_the_same_role_is_refused_as_already_pending(world: World) -> None:
    assert (await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "one")).ok
    second = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "two")
    assert not second.ok and second.code == "already_pending"
    assert world.store.actions() == ["request.created", "request.refused"]


async def test_a_duplicate_the_checks_missed_is_refused_by_the_store_and_leaves_nothing_behind(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    async def nothing(self: object, *args: object, **kwargs: object) -> None:
        return None
    monkeypatch.setattr(FakeRequests, "pending_request_for", nothing)
    assert (await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "one")).ok
    second = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "two")
    assert not second.ok and second.code == "already_pending"
    async with world.store.tx() as tx:
        assert len(await tx.requests.of("U0ALICE")) == 1
    refused = world.store.db.audit[-1]
    assert refused["action"] == "request.refused" and refused["details"]["race"] is True
    assert len(world.store.effects("approval.post")) == 1


async def test_an_id_collision_is_retried_with_a_fresh_id(world: World) -> None:
    first = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "one")
    fresh = world.deps.ids
    handed = iter([first.data["request_id"]])  # type: ignore[index]
    world.deps.ids = lambda kind: next(handed, None) or fresh(kind)
    second = await requests.submit(world.deps, "U0BOB", "prod-db", HOUR, "two")
    assert second.ok and second.data["request_id"] != first.data["request_id"]  # type: ignore[index]


async def test_an_unknown_role_is_refused_and_audited(world: World) -> None:
    out = await requests.submit(world.deps, "U0ALICE", "no-such-role", HOUR, "why")
    assert not out.ok and out.code == "unknown_role"
    assert world.store.actions() == ["request.refused"]


async def test_an_auto_approve_role_is_granted_at_once_and_owes_a_group_add(world: World) -> None:
    out = await requests.submit(world.deps, "U0ALICE", "shared-a", HOUR, "")
    assert out.ok and out.data is not None
    grant = await world.grant(out.data["grant_id"])
    assert grant.state.value == "pending"
    [sync] = world.store.effects("cf.sync")
    assert sync["lane"] == LANE_CF_ADD and sync["key"].startswith("cf:")
    assert world.store.actions() == ["request.created", "request.approved"]


async def test_the_requester_cancels_their_pending_request_once(world: World) -> None:
    rid = (await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x")).data["request_id"]  # type: ignore[index]
    assert not (await requests.cancel(world.deps, "U0BOB", rid)).ok
    assert (await requests.cancel(world.deps, "U0ALICE", rid)).ok
    again = await requests.cancel(world.deps, "U0ALICE", rid)
    assert not again.ok and again.code == "already_decided"
    assert (await world.request(rid)).state is RequestState.CANCELLED


async def test_a_request_times_out_only_after_its_request_timeout(world: World) -> None:
    rid = (await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x")).data["request_id"]  # type: ignore[index]
    world.clock.advance(timedelta(hours=23))
    assert not await requests.expire_request(world.deps, rid)
    world.clock.advance(timedelta(hours=1))
    assert await requests.expire_request(world.deps, rid)
    assert (await world.request(rid)).state is RequestState.EXPIRED
    assert [e["payload"]["event"] for e in world.store.effects("notify.user")] == ["request_expired"]
    assert not await requests.expire_request(world.deps, rid)


async def test_the_filing_limit_refuses_with_the_seconds_to_wait(world: World) -> None:
    from bot.domain.limits import FilingLimit

    world.deps.filing_limit = FilingLimit(count=1, window=timedelta(minutes=10))
    assert (await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x")).ok
    out = await requests.submit(world.deps, "U0ALICE", "two-man", HOUR, "y")
    assert not out.ok and out.code == "rate_limited" and out.data == {"retry_after_s": 600}
