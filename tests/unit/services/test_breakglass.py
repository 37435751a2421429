"""Break-glass (issue 11): granted at once without approvers, capped, announced, reviewed after by an admin."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.model import GrantState
from bot.domain.wording import explain
from bot.scheduler import Scheduler
from bot.services import breakglass
from tests.core_harness import GROUP, GROUP2
from tests.fakes import RecordingMessenger
from tests.fakes_uow import FakeLocker
from tests.policies import policy_text, role
from tests.unit.services.world import World, make_world

M = timedelta(minutes=1)
H = timedelta(hours=1)
POLICY = policy_text({
    "prod-db": role(GROUP, approvers=["U0APPR01"], break_glass=True, break_glass_max_duration="30m",
                    remind_after="20m"),
    "staging": role(GROUP2, approvers=["U0APPR01"]),
}, admins=["U0ADMIN1", "U0APPR02"], audit_channel="C0AUDIT1")


@pytest.fixture
def world() -> World:
    """prod-db has break-glass (at most 30m, review reminders every 20m); staging has none."""
    return make_world(POLICY)


async def _glass(world: World, duration: timedelta | None = 15 * M, user: str = "U0ALICE") -> str:
    out = await breakglass.break_glass(world.deps, user, "prod-db", duration, "db on fire, INC-1")
    assert out.ok, explain(out)
    return out.data["grant_id"]  # type: ignore[index]


def _audit(world: World, action: str) -> list[dict]:
    return [r for r in world.store.db.audit if r["action"] == action]


async def test_break_glass_grants_at_once_without_approvers_and_owes_the_announcement(world: World) -> None:
    gid = await _glass(world)
    grant = await world.grant(gid)
    assert grant.break_glass and grant.state is GrantState.PENDING and grant.duration == 15 * M
    assert grant.acknowledged_at is None and grant.review_remind_at == world.clock.now() + 20 * M
    assert [a for a in world.store.actions() if a != "approval.refused"][:3] == [
        "request.created", "request.approved", "grant.break_glass"]
    assert _audit(world, "grant.break_glass")[0]["actor"] == "U0ALICE"
    assert [e["payload"] for e in world.store.effects("breakglass.review")] == [{"grant_id": gid, "nth": 0}]
    assert world.store.effects("approval.post") == []  # nobody is asked to approve
    assert len(world.store.effects("cf.sync")) == 1


async def test_a_role_without_break_glass_refuses_it_and_the_refusal_is_audited(world: World) -> None:
    out = await breakglass.break_glass(world.deps, "U0ALICE", "staging", None, "please")
    assert not out.ok and out.code == "break_glass_not_allowed"
    assert "/access request staging" in explain(out)
    refused = _audit(world, "request.refused")
    assert refused and refused[0]["details"]["code"] == "break_glass_not_allowed"
    async with world.store.tx() as tx:
        assert await tx.grants.find() == []


async def test_break_glass_needs_a_reason(world: World) -> None:
    out = await breakglass.break_glass(world.deps, "U0ALICE", "prod-db", None, "   ")
    assert not out.ok and out.code == "break_glass_reason_required"


async def test_the_duration_is_capped_by_break_glass_max_duration(world: World) -> None:
    out = await breakglass.break_glass(world.deps, "U0ALICE", "prod-db", 4 * H, "db on fire")
    assert out.ok and out.capped and out.duration == 30 * M  # type: ignore[union-attr]
    assert "cut to the break-glass limit of 30m" in explain(out)
    assert (await world.grant(out.grant_id)).duration == 30 * M  # type: ignore[union-attr]


async def test_without_a_duration_break_glass_takes_the_default_within_the_cap(world: World) -> None:
    out = await breakglass.break_glass(world.deps, "U0ALICE", "prod-db", None, "db on fire")
    assert out.ok and out.duration == 30 * M and not out.capped  # type: ignore[union-attr]


async def test_break_glass_on_a_role_already_held_is_refused(world: World) -> None:
    await _glass(world)
    out = await breakglass.break_glass(world.deps, "U0ALICE", "prod-db", None, "again")
    assert not out.ok and out.code == "already_granted"


async def test_acknowledge_by_a_non_admin_is_refused_and_audited(world: World) -> None:
    gid = await _glass(world)
    out = await breakglass.acknowledge(world.deps, "U0BOB", gid)
    assert not out.ok and out.code == "not_admin" and "admins" in explain(out)
    refusal = _audit(world, "approval.refused")[-1]
    assert refusal["actor"] == "U0BOB" and refusal["details"]["op"] == "breakglass.acknowledge"
    assert (await world.grant(gid)).acknowledged_at is None


async def test_an_admin_acknowledges_once_and_the_reminders_stop(world: World) -> None:
    gid = await _glass(world)
    out = await breakglass.acknowledge(world.deps, "U0ADMIN1", gid)
    assert out.ok, explain(out)
    again = await breakglass.acknowledge(world.deps, "U0APPR02", gid)
    assert not again.ok and again.code == "already_acknowledged" and "U0ADMIN1" in explain(again)
    grant = await world.grant(gid)
    assert grant.acknowledged_by == "U0ADMIN1" and grant.review_remind_at is None
    assert len(_audit(world, "breakglass.acknowledged")) == 1
    world.clock.advance(3 * H)
    assert not await breakglass.remind_review(world.deps, gid)


async def test_the_admins_are_reminded_until_someone_acknowledges(world: World) -> None:
    gid = await _glass(world)
    sched, replica = (Scheduler(world.deps, FakeLocker(), RecordingMessenger(), seed=1) for _ in range(2))
    for _ in range(3):
        world.clock.advance(20 * M)
        await sched.tick()
        await replica.tick()  # a second process (or a restart) sends each reminder once
    assert [e["payload"]["nth"] for e in world.store.effects("breakglass.review")] == [0, 1, 2, 3]
    assert len(_audit(world, "breakglass.reminded")) == 3
    assert (await breakglass.acknowledge(world.deps, "U0APPR02", gid)).ok
    world.clock.advance(H)
    await sched.tick()
    assert len(world.store.effects("breakglass.review")) == 4


async def test_revoke_now_revokes_the_grant_and_counts_as_the_review(world: World) -> None:
    gid = await _glass(world)
    await world.sync()
    out = await breakglass.revoke_now(world.deps, "U0ADMIN1", gid)
    assert out.ok and out.code == "ok", explain(out)
    grant = await world.grant(gid)
    assert grant.state is GrantState.REVOKING and grant.revoke_reason == "admin"
    assert grant.acknowledged_by == "U0ADMIN1"
    assert _audit(world, "breakglass.acknowledged")[0]["details"]["revoked"] is True


async def test_revoke_now_by_a_non_admin_changes_nothing(world: World) -> None:
    gid = await _glass(world)
    await world.sync()
    out = await breakglass.revoke_now(world.deps, "U0BOB", gid)
    assert not out.ok and out.code == "not_admin"
    assert (await world.grant(gid)).state is GrantState.ACTIVE


async def test_acknowledge_on_a_grant_that_is_not_break_glass_is_refused(world: World) -> None:
    grant = await world.active_grant(role="staging")
    out = await breakglass.acknowledge(world.deps, "U0ADMIN1", grant.id)
    assert not out.ok and out.code == "not_break_glass"
