"""Cloudflare group syncs and drift reconciliation, on the in-memory unit of work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.errors import PermanentError, TransientError
from bot.domain.model import GrantState
from bot.domain.wording import explain
from bot.services import grants, requests
from bot.services.reconcile import reconcile
from tests.fakes_uow import FakeLocker
from tests.unit.services.world import ACCOUNT, GROUP, World, make_world

HOUR = timedelta(hours=1)


@pytest.fixture
def world() -> World:
    """A fresh in-memory world."""
    return make_world()


async def _pending_grant(world: World) -> str:
    """An auto-approved grant of shared-a, not yet applied; its ID."""
    out = await requests.submit(world.deps, "U0ALICE", "shared-a", HOUR, "")
    assert out.ok, explain(out)
    return out.data["grant_id"]  # type: ignore[index]


async def test_a_transient_cloudflare_error_leaves_the_grant_pending_and_the_sync_owed(world: World) -> None:
    from tests.unit.services.world import GROUP2

    gid = await _pending_grant(world)
    world.groups.failures.append(TransientError("503"))
    with pytest.raises(TransientError):
        await world.sync(GROUP2)
    assert (await world.grant(gid)).state is GrantState.PENDING
    assert [e["state"] for e in world.store.effects("cf.sync")] == ["pending"]


async def test_a_permanent_cloudflare_error_fails_the_grant_and_tells_the_admins(world: World) -> None:
    from tests.unit.services.world import GROUP2

    gid = await _pending_grant(world)
    world.groups.failures.append(PermanentError("403 forbidden"))
    assert await world.sync(GROUP2) == {"failed": 1}
    assert (await world.grant(gid)).state is GrantState.FAILED
    assert [e["state"] for e in world.store.effects("cf.sync")] == ["failed"]
    assert [e["payload"]["event"] for e in world.store.effects("notify.admins")] == ["grant_failed"]
    assert world.store.actions()[-1] == "grant.apply_failed"


async def test_a_sync_never_removes_a_standing_member_the_bot_did_not_add(world: World) -> None:
    world.groups.groups[(ACCOUNT, GROUP)]["include"].append({"email": {"email": "alice@example.com"}})
    grant = await world.active_grant()
    await grants.revoke(world.deps, "U0ALICE", grant.id)
    await world.sync()
    assert (await world.grant(grant.id)).state is GrantState.REVOKED
    assert "alice@example.com" in world.groups.emails(ACCOUNT, GROUP)
    assert world.store.effects("cf.revoke_sessions") == []  # the email did not leave the group


async def test_reconcile_reports_an_email_the_bot_added_that_no_grant_needs_and_fix_removes_it(
        world: World) -> None:
    grant = await world.active_grant()
    async with world.store.tx() as tx:  # the grant ended while its removal was lost
        assert await tx.grants.move(grant.id, (GrantState.ACTIVE,), GrantState.REVOKED)
    [drift] = [d for d in await reconcile(world.deps, FakeLocker()) if d.group_id == GROUP]
    assert drift.stale == ["alice@example.com"] and not drift.fixed
    assert "drift.detected" in world.store.actions()
    assert [e["payload"]["event"] for e in world.store.effects("notify.admins")] == ["drift"]
    [fixed] = [d for d in await reconcile(world.deps, FakeLocker(), fix=True) if d.group_id == GROUP]
    assert fixed.fixed and "alice@example.com" not in world.groups.emails(ACCOUNT, GROUP)
    async with world.store.tx() as tx:
        assert await tx.members.emails(ACCOUNT, GROUP) == set()


async def test_reconcile_reports_an_active_grants_missing_email(world: World) -> None:
    await world.active_grant()
    world.groups.groups[(ACCOUNT, GROUP)]["include"] = []
    [drift] = [d for d in await reconcile(world.deps, FakeLocker()) if d.group_id == GROUP]
    assert drift.missing == ["alice@example.com"] and drift.stale == []


async def test_a_write_ends_a_grant_whose_time_ran_out_before_the_sweep_moved_it(world: World) -> None:
    alice = await world.active_grant()
    world.clock.advance(timedelta(minutes=30))
    bob = await world.active_grant(user="U0BOB")
    world.clock.advance(timedelta(minutes=31))  # alice's end passed; the expiry sweep has not run yet
    await grants.revoke(world.deps, "U0BOB", bob.id)  # another change owes the group a write
    await world.sync()
    ended = await world.grant(alice.id)
    assert ended.state is GrantState.REVOKED and ended.revoked_at == world.clock.now()  # this write, not the next
    assert ended.revoke_reason == "expired"
    assert "alice@example.com" not in world.groups.emails(ACCOUNT, GROUP)
    assert [e["state"] for e in world.store.effects("cf.sync")][-1:] == ["done"]  # no second write owed
    assert not await grants.expire_grant(world.deps, alice.id)  # the sweep finds nothing left to do
