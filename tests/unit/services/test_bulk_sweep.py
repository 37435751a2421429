"""A sweep of many expiries on the in-memory unit of work: every due grant moves to revoking in bounded batches,
each group is written once, and each grant is revoked, audited and announced exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from bot.domain.audit import first_broken
from bot.domain.model import Grant, GrantState
from bot.services import grants, group_sync
from tests.core_harness import POLICY
from tests.unit.services.world import ACCOUNT, GROUP, GROUP2, World, make_world

H = timedelta(hours=1)


@pytest.fixture
def world() -> World:
    """A fresh in-memory world whose audit events are also summarised in an audit channel."""
    return make_world(POLICY.replace("roles:\n", "audit_channel: C0AUDIT\nroles:\n", 1))


async def _seed(world: World, n: int, *, state: GrantState = GrantState.ACTIVE, ends_in: timedelta = -H,
                durations: list[timedelta] | None = None) -> list[Grant]:
    """`n` grants of two-man to n people, alternating between GROUP and GROUP2, each email in its group and owned
    by the bot; active ones end `ends_in` from now."""
    now = world.clock.now()
    made = []
    for group in (GROUP, GROUP2):
        world.groups.add(ACCOUNT, group)
    async with world.store.tx() as tx:
        for i in range(n):
            group = (GROUP, GROUP2)[i % 2]
            g = Grant(f"g-{i:08d}", f"r-{i:08d}", "two-man", f"U{i:08d}", f"p{i}@x.io", ACCOUNT, group,
                      (durations or [H])[i % len(durations or [H])], now)
            await tx.grants.add(g)
            if state is GrantState.ACTIVE:
                await tx.grants.move(g.id, (GrantState.PENDING,), state, granted_at=now, expires_at=now + ends_in)
                await tx.members.add(ACCOUNT, group, {g.email})
                world.groups.groups[(ACCOUNT, group)]["include"].append({"email": {"email": g.email}})
            made.append(g)
    return made


def _audited(world: World, action: str) -> list[dict]:
    """The stored audit rows of one action, in order."""
    return [r for r in world.store.db.audit if r["action"] == action]


async def test_a_sweep_moves_every_due_grant_in_batches_and_each_group_is_written_once(world: World) -> None:
    seeded = await _seed(world, 25)
    assert await grants.expire_due(world.deps, batch=10) == 25
    assert {g.id: g.state for g in world.store.db.grants.values()} == {g.id: GrantState.REVOKING for g in seeded}
    assert len(world.store.effects("cf.sync")) == 6  # one per group in each of the three batches
    assert (await world.sync(GROUP))["revoked"] == 13 and (await world.sync(GROUP2))["revoked"] == 12
    assert world.groups.calls == [("GET", GROUP), ("PUT", GROUP), ("GET", GROUP2), ("PUT", GROUP2)]
    assert world.groups.emails(ACCOUNT, GROUP) == [] and world.groups.emails(ACCOUNT, GROUP2) == []
    revoked = _audited(world, "grant.revoked")
    assert sorted(r["grant_id"] for r in revoked) == sorted(g.id for g in seeded)
    assert all(r["details"]["reason"] == "expired" and r["details"]["email_left_group"] for r in revoked)
    assert first_broken(world.store.db.audit) is None
    owed = Counter(e["kind"] for e in world.store.effects())
    assert owed["notify.user"] == owed["notify.thread"] == owed["home.refresh"] == owed["audit.summary"] == 25
    summaries = [e["payload"]["seq"] for e in world.store.effects("audit.summary")]
    assert summaries == [r["seq"] for r in revoked]


async def test_a_sweep_stops_after_its_batch_limit_and_the_next_tick_takes_the_rest(world: World) -> None:
    await _seed(world, 25)
    assert await grants.expire_due(world.deps, batch=10, batches=2) == 20
    assert await grants.expire_due(world.deps, batch=10, batches=2) == 5
    assert await grants.expire_due(world.deps, batch=10, batches=2) == 0


async def test_the_bulk_expiry_leaves_alone_grants_not_yet_due_extended_or_already_revoking(world: World) -> None:
    seeded = await _seed(world, 4)
    now = world.clock.now()
    async with world.store.tx() as tx:
        assert await tx.grants.extend(seeded[1].id, now - H, now + H, None)
        assert await tx.grants.move(seeded[2].id, (GrantState.ACTIVE,), GrantState.REVOKING, revoke_reason="manual",
                                    revoke_actor="U00000002")
    assert await grants.expire_grants(world.deps, [g.id for g in seeded] + [seeded[0].id, "g-missing"]) == 2
    assert await grants.expire_grants(world.deps, [g.id for g in seeded]) == 0
    await world.sync(GROUP)
    await world.sync(GROUP2)
    states = {g.id: (g.state, g.revoke_reason) for g in world.store.db.grants.values()}
    assert states[seeded[1].id] == (GrantState.ACTIVE, None)
    assert states[seeded[2].id] == (GrantState.REVOKED, "manual")
    manual = [r for r in _audited(world, "grant.revoked") if r["grant_id"] == seeded[2].id]
    assert [(r["actor"], r["details"]["reason"]) for r in manual] == [("U00000002", "manual")]
    assert [e["payload"]["event"] for e in world.store.effects("notify.user")] == ["expired", "revoked", "expired"]


async def test_revocations_settled_twice_are_audited_and_announced_once(world: World) -> None:
    seeded = await _seed(world, 6)
    await grants.expire_due(world.deps)
    async with world.store.tx() as tx:
        revoking = await tx.grants.find(states=(GrantState.REVOKING,))
        assert await group_sync.mark_revoked_many(world.deps, tx, [(g, True) for g in revoking]) == 6
        assert await group_sync.mark_revoked_many(world.deps, tx, [(g, True) for g in revoking]) == 0
        assert await group_sync.mark_revoked(world.deps, tx, revoking[0], left_group=True) == 0
    assert len(_audited(world, "grant.revoked")) == len(seeded)
    assert len(world.store.effects("notify.user")) == 6 and first_broken(world.store.db.audit) is None


async def test_one_write_activates_many_pending_grants_each_with_its_own_end(world: World) -> None:
    durations = [H, 2 * H, 30 * timedelta(minutes=1)]
    seeded = await _seed(world, 6, state=GrantState.PENDING, durations=durations)
    world.groups.groups[(ACCOUNT, GROUP)]["include"].append({"email": {"email": seeded[0].email}})  # standing
    assert (await world.sync(GROUP))["applied"] == 3 and (await world.sync(GROUP2))["applied"] == 3
    now = world.clock.now()
    for g in seeded:
        stored = world.store.db.grants[g.id]
        assert stored.state is GrantState.ACTIVE and stored.granted_at == now
        assert stored.expires_at == now + g.duration and stored.warn_at == stored.expires_at - timedelta(minutes=10)
    applied = {r["grant_id"]: r["details"] for r in _audited(world, "grant.applied")}
    assert set(applied) == {g.id for g in seeded}
    assert [g.id for g in seeded if applied[g.id]["already_member"]] == [seeded[0].id]
    assert len(world.groups.calls) == 4 and first_broken(world.store.db.audit) is None
    owed = Counter(e["kind"] for e in world.store.effects())
    assert owed["notify.user"] == owed["notify.thread"] == owed["approval.refresh"] == 6


async def test_a_bulk_settle_posts_to_the_audit_channel_only_what_its_level_shows() -> None:
    quiet = make_world(POLICY.replace("roles:\n", "audit_channel: C0AUDIT\naudit_channel_events: alerts\nroles:\n",
                                      1))
    await _seed(quiet, 4)
    await grants.expire_due(quiet.deps)
    await quiet.sync(GROUP)
    assert len(_audited(quiet, "grant.revoked")) == 2
    assert quiet.store.effects("audit.summary") == [], "grant.revoked is not an alert"
    loud = make_world(POLICY.replace("roles:\n", "audit_channel: C0AUDIT\nroles:\n", 1))
    await _seed(loud, 4)
    await grants.expire_due(loud.deps)
    await loud.sync(GROUP)
    assert len(loud.store.effects("audit.summary")) == len(loud.store.db.audit)
