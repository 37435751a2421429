"""The bulk repository methods (many grants moved, many audit events, many effects in one statement each) keep the
single-row rules: compare-and-set, an unbroken hash chain, effects in order.

The same tests run against the SQL store in tests/integration/test_repository_contract.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.audit import AuditEvent, first_broken
from bot.domain.clock import ManualClock
from bot.domain.effects import NotifyThread, NotifyUser, SyncGroup
from bot.domain.lanes import LANE_CF_REMOVE
from bot.domain.model import Grant, GrantState
from tests.fakes_uow import FakeStore

H = timedelta(hours=1)


@pytest.fixture
def store() -> FakeStore:
    """An empty in-memory store on a manual clock."""
    return FakeStore(ManualClock())

# Every test below takes any UnitOfWorkFactory with a ManualClock as `store` (typed FakeStore for brevity).


async def _active(store: FakeStore, n: int, *, ends_in: timedelta = -H) -> list[str]:
    """`n` active grants of prod-db to n different people, ending `ends_in` from now; their IDs."""
    now = store.clock.now()
    ids = [f"g-{i:04d}" for i in range(n)]
    async with store.tx() as tx:
        for i, gid in enumerate(ids):
            await tx.grants.add(Grant(gid, f"r-{i:04d}", "prod-db", f"U{i:04d}", f"p{i}@x.io", "acct", "grp", H,
                                      now))
            assert await tx.grants.move(gid, (GrantState.PENDING,), GrantState.ACTIVE, granted_at=now,
                                        expires_at=now + ends_in)
    return ids


async def test_a_bulk_move_changes_only_the_grants_still_in_the_expected_state_and_due(store: FakeStore) -> None:
    ids = await _active(store, 5)
    now = store.clock.now()
    async with store.tx() as tx:
        assert await tx.grants.extend(ids[1], now - H, now + H, None)  # extended: no longer due
        assert await tx.grants.move(ids[2], (GrantState.ACTIVE,), GrantState.REVOKING, revoke_reason="manual")
        moved = await tx.grants.move_many([*ids, "g-nope", ids[0]], (GrantState.ACTIVE,), GrantState.REVOKING,
                                          due_by=now, revoke_reason="expired", revoke_actor="system")
        assert sorted(g.id for g in moved) == [ids[0], ids[3], ids[4]]
        assert all(g.state is GrantState.REVOKING and g.revoke_reason == "expired" for g in moved)
        assert await tx.grants.move_many(ids, (GrantState.ACTIVE,), GrantState.REVOKING, due_by=now) == []
        assert (await tx.grants.get(ids[2])).revoke_reason == "manual"  # type: ignore[union-attr]
        assert (await tx.grants.get(ids[1])).state is GrantState.ACTIVE  # type: ignore[union-attr]


async def test_a_bulk_move_of_more_grants_than_one_statement_takes_moves_them_all(store: FakeStore) -> None:
    ids = await _active(store, 1100)
    async with store.tx() as tx:
        moved = await tx.grants.move_many(ids, (GrantState.ACTIVE,), GrantState.REVOKED,
                                          revoked_at=store.clock.now())
        assert len(moved) == 1100 and {g.id for g in moved} == set(ids)
        assert (await tx.grants.counts_by_state()) == {"revoked": 1100}


async def test_a_bulk_activation_gives_each_pending_grant_its_own_end_and_skips_the_others(store: FakeStore) -> None:
    now = store.clock.now()
    async with store.tx() as tx:
        for i in range(3):
            await tx.grants.add(Grant(f"g-{i}", f"r-{i}", "prod-db", f"U{i}", f"p{i}@x.io", "acct", "grp", H, now))
        assert await tx.grants.move("g-2", (GrantState.PENDING,), GrantState.REVOKING)
        starts = [(f"g-{i}", now + (i + 1) * H, now + (i + 1) * H - timedelta(minutes=10)) for i in range(3)]
        assert await tx.grants.activate_many(starts, now) == ["g-0", "g-1"]
        assert await tx.grants.activate_many(starts, now) == []
        for i in range(2):
            g = await tx.grants.get(f"g-{i}")
            assert g is not None and g.state is GrantState.ACTIVE and g.granted_at == now
            assert g.expires_at == now + (i + 1) * H and g.warn_at == g.expires_at - timedelta(minutes=10)
        assert (await tx.grants.get("g-2")).expires_at is None  # type: ignore[union-attr]


async def test_a_bulk_audit_append_extends_the_chain_once_and_the_chain_still_verifies(store: FakeStore) -> None:
    async with store.tx() as tx:
        first = await tx.audit.append(AuditEvent("U1", "request.filed"))
        assert await tx.audit.append_many([]) == []
        rows = await tx.audit.append_many([AuditEvent("system", "grant.revoked", grant_id=f"g-{i}",
                                                      details={"n": i}) for i in range(300)])
    assert [r["seq"] for r in rows] == list(range(2, 302))
    assert rows[0]["prev_hash"] == first["hash"] and rows[-1]["prev_hash"] == rows[-2]["hash"]
    async with store.tx() as tx:
        after = await tx.audit.append(AuditEvent("U1", "request.filed"))
        stored = await tx.audit.rows()
        assert await tx.audit.head() == (302, after["hash"])
    assert len(stored) == 302 and first_broken(stored) is None and after["prev_hash"] == rows[-1]["hash"]
    assert [r["grant_id"] for r in stored[1:301]] == [f"g-{i}" for i in range(300)]


async def test_effects_owed_in_bulk_come_back_in_order_in_their_lanes(store: FakeStore) -> None:
    async with store.tx() as tx:
        await tx.outbox.owe_many([])
        assert not tx.enqueued
        await tx.outbox.owe_many([SyncGroup("acct", "grp", removal=True), NotifyUser("U1", "expired", grant_id="g-1"),
                                  NotifyThread("r-1", "expired", grant_id="g-1"),
                                  NotifyUser("U1", "revoked", grant_id="g-2")])
        assert tx.enqueued
        due = await tx.outbox.due_effects(store.clock.now())
    assert [(r.kind, r.payload.get("event")) for r in due] == [
        ("cf.sync", None), ("notify.user", "expired"), ("notify.thread", "expired"), ("notify.user", "revoked")]
    assert due[0].lane == LANE_CF_REMOVE and due[0].key == "cf:acct:grp"
