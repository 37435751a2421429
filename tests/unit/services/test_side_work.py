"""Sessions, revoke alerts, given-up notices and audit checkpoints, on the in-memory unit of work."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain import checkpoint as ckpt
from bot.domain.effects import NotifyUser, PostApproval
from bot.domain.errors import PermanentError
from bot.domain.model import GrantState
from bot.services import grants, group_sync, requests
from bot.services.checkpoints import write_checkpoint
from bot.services.delivery import notice_given_up
from tests.unit.services.world import ACCOUNT, GROUP, World, make_world

HOUR = timedelta(hours=1)


@pytest.fixture
def world() -> World:
    """A fresh in-memory world."""
    return make_world()


async def test_ending_sessions_is_audited_and_finishes_its_effect(world: World) -> None:
    grant = await world.active_grant()
    await grants.revoke(world.deps, "U0ALICE", grant.id)
    await world.sync()
    [effect] = world.store.effects("cf.revoke_sessions")
    await group_sync.revoke_sessions(world.deps, ACCOUNT, "alice@example.com", grant.id, effect["id"])
    assert world.groups.revoked == [(ACCOUNT, "alice@example.com")]
    assert world.store.effects("cf.revoke_sessions")[0]["state"] == "done"
    assert world.store.actions()[-1] == "session.revoked"


async def test_a_refused_session_end_fails_its_effect_and_alerts_the_admins(world: World) -> None:
    grant = await world.active_grant()
    async with world.store.tx() as tx:
        await tx.outbox.enqueue("cf.revoke_sessions", {}, key="cf-sessions")
    [effect] = world.store.effects("cf.revoke_sessions")
    world.groups.failures.append(PermanentError("403"))
    await group_sync.revoke_sessions(world.deps, ACCOUNT, "alice@example.com", grant.id, effect["id"])
    assert world.store.effects("cf.revoke_sessions")[0]["state"] == "failed"
    assert world.store.actions()[-1] == "grant.revoke_failed"
    assert [e["payload"]["event"] for e in world.store.effects("notify.admins")] == ["sessions_failed"]


async def test_a_failing_revocation_is_alerted_only_while_a_grant_is_being_revoked(world: World) -> None:
    grant = await world.active_grant()
    since = world.clock.now()
    assert not await group_sync.alert_revoke_failing(world.deps, ACCOUNT, GROUP, "503", since, 3)
    await grants.revoke(world.deps, "U0ALICE", grant.id)
    assert await group_sync.alert_revoke_failing(world.deps, ACCOUNT, GROUP, "503", since, 3)
    [alert] = world.store.effects("notify.admins")
    assert alert["payload"]["grants"] == [grant.id] and alert["payload"]["event"] == "revoke_failing"
    assert (await world.grant(grant.id)).state is GrantState.REVOKING


async def test_an_approval_message_given_up_tells_the_requester_and_the_admins_while_the_request_is_open(
        world: World) -> None:
    rid = (await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x")).data["request_id"]  # type: ignore[index]
    async with world.store.tx() as tx:
        await notice_given_up(world.deps, tx, NotifyUser("U0ALICE", "approved", request_id=rid), "boom")
        await notice_given_up(world.deps, tx, PostApproval(rid), "channel_not_found")
    [told] = world.store.effects("notify.user")
    assert told["payload"] == {"event": "approval_not_posted", "request_id": rid, "role": "prod-db",
                               "error": "channel_not_found", "user": "U0ALICE"}
    assert len(world.store.effects("notify.admins")) == 1
    await requests.cancel(world.deps, "U0ALICE", rid)
    async with world.store.tx() as tx:
        await notice_given_up(world.deps, tx, PostApproval(rid), "again")
    assert len(world.store.effects("notify.admins")) == 1


async def test_a_checkpoint_signs_the_chain_head_and_is_skipped_while_the_log_has_not_grown(
        world: World, tmp_path: Path) -> None:
    key = ckpt.SigningKey.generate("accessbot.test/audit")
    await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x")
    first = await write_checkpoint(world.store, key, str(tmp_path))
    assert first is not None and first.size == 1 and first.head == world.store.db.audit[-1]["hash"]
    assert (tmp_path / "latest.checkpoint").read_text() == first.note
    assert await write_checkpoint(world.store, key, only_if_grown=True) is None
    await requests.submit(world.deps, "U0BOB", "prod-db", HOUR, "y")
    second = await write_checkpoint(world.store, key, only_if_grown=True)
    assert second is not None and second.size == 2 and second.previous == first.hash
