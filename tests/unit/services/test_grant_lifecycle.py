"""Applying, extending, warning, expiring and revoking grants, on the in-memory unit of work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.lanes import LANE_CF_REMOVE
from bot.domain.model import GrantState, VoteChoice
from bot.domain.wording import explain
from bot.services import approval, grants, requests
from tests.unit.services.world import ACCOUNT, GROUP, World, make_world

HOUR = timedelta(hours=1)


@pytest.fixture
def world() -> World:
    """A fresh in-memory world."""
    return make_world()


async def test_a_group_sync_adds_the_email_and_starts_the_grants_clock(world: World) -> None:
    grant = await world.active_grant()
    assert "alice@example.com" in world.groups.emails(ACCOUNT, GROUP)
    assert grant.granted_at == world.clock.now() and grant.expires_at == world.clock.now() + HOUR
    assert grant.warn_at == grant.expires_at - timedelta(minutes=10)
    async with world.store.tx() as tx:
        assert await tx.members.emails(ACCOUNT, GROUP) == {"alice@example.com"}
    assert all(e["state"] == "done" for e in world.store.effects("cf.sync"))
    assert [e["payload"]["event"] for e in world.store.effects("notify.user")] == ["approved"]


async def test_a_revocation_owes_an_urgent_removal_and_the_sync_ends_the_grant_and_its_sessions(
        world: World) -> None:
    grant = await world.active_grant()
    out = await grants.revoke(world.deps, "U0ALICE", grant.id)
    assert out.ok
    assert (await world.grant(grant.id)).state is GrantState.REVOKING
    assert world.store.effects("cf.sync")[-1]["lane"] == LANE_CF_REMOVE
    await world.sync()
    done = await world.grant(grant.id)
    assert done.state is GrantState.REVOKED and done.revoke_reason == "manual"
    assert "alice@example.com" not in world.groups.emails(ACCOUNT, GROUP)
    assert [e["payload"]["email"] for e in world.store.effects("cf.revoke_sessions")] == ["alice@example.com"]


async def test_someone_else_cannot_revoke_a_grant_but_an_admin_can(world: World) -> None:
    grant = await world.active_grant()
    assert (await grants.revoke(world.deps, "U0BOB", grant.id)).code == "unknown_grant"
    assert (await grants.revoke(world.deps, "U0ADMIN1", grant.id)).ok
    assert (await world.grant(grant.id)).revoke_reason == "admin"


async def test_a_grant_expires_only_once_its_time_is_up(world: World) -> None:
    grant = await world.active_grant()
    assert not await grants.expire_grant(world.deps, grant.id)
    world.clock.advance(HOUR)
    assert await grants.expire_grant(world.deps, grant.id)
    assert (await world.grant(grant.id)).revoke_reason == "expired"
    assert not await grants.expire_grant(world.deps, grant.id)


async def test_the_expiry_warning_is_sent_once_at_its_time(world: World) -> None:
    grant = await world.active_grant()
    assert not await grants.warn_grant(world.deps, grant.id)
    world.clock.advance(timedelta(minutes=50))
    assert await grants.warn_grant(world.deps, grant.id)
    assert not await grants.warn_grant(world.deps, grant.id)
    assert [e["payload"]["event"] for e in world.store.effects("notify.user")] == ["approved", "warned"]


async def test_an_approved_extension_moves_the_grants_end(world: World) -> None:
    grant = await world.active_grant()
    out = await requests.submit_extend(world.deps, "U0ALICE", grant.id, HOUR, "longer")
    assert out.ok, explain(out)
    second = await requests.submit_extend(world.deps, "U0ALICE", grant.id, HOUR, "again")
    assert not second.ok and second.code == "extension_pending"
    voted = await approval.vote(world.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)  # type: ignore[index]
    assert voted.ok, explain(voted)
    assert (await world.grant(grant.id)).expires_at == grant.expires_at + HOUR  # type: ignore[operator]


async def test_an_extension_past_max_duration_is_refused(world: World) -> None:
    grant = await world.active_grant(duration=timedelta(hours=47))
    out = await requests.submit_extend(world.deps, "U0ALICE", grant.id, timedelta(hours=2), "more")
    assert not out.ok and out.code == "duration_too_long"


async def test_a_second_live_grant_of_a_role_is_refused(world: World) -> None:
    await world.active_grant()
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "again")
    assert not out.ok and out.code == "already_granted"
