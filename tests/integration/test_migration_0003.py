"""Migration 0003 on a database the old races left duplicates in: they are settled (audited), then the
indexes that forbid them are built; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.audit import AuditEvent, first_broken
from bot.domain.clock import ManualClock
from bot.domain.model import AccessRequest, Grant, GrantState, RequestKind, RequestState
from bot.storage.engine import make_engine
from bot.storage.migrate import upgrade
from bot.storage.store import Inserted, Store

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _req(rid: str, minutes: int, kind: RequestKind = RequestKind.NEW, grant_id: str | None = None) -> AccessRequest:
    at = T0 + timedelta(minutes=minutes)
    return AccessRequest(rid, "prod-db", "U0ALICE", "alice@x.io", timedelta(hours=1), "why", at, at + timedelta(days=1),
                         kind=kind, grant_id=grant_id)


def _grant(gid: str, state: GrantState) -> Grant:
    return Grant(gid, "r-22222222", "prod-db", "U0ALICE", "alice@x.io", "acc", "grp", timedelta(hours=1), T0,
                 state=state)


async def test_migration_0003_settles_duplicates_left_by_old_races_then_enforces_the_rules(database_url: str) -> None:
    engine = make_engine(database_url)
    await upgrade(engine, "0002")
    store = Store(engine, ManualClock(T0))
    async with store.tx() as tx:
        await tx.audit.append(AuditEvent("U0ALICE", "request.created", request_id="r-22222222"))
        for rid, minute in (("r-33333333", 2), ("r-22222222", 1), ("r-44444444", 3)):
            await tx.requests.add(_req(rid, minute))
        for rid, minute in (("r-55555555", 1), ("r-66666666", 2)):
            await tx.requests.add(_req(rid, minute, RequestKind.EXTEND, "g-22222222"))
        for gid, state in (("g-22222222", GrantState.ACTIVE), ("g-33333333", GrantState.ACTIVE),
                           ("g-44444444", GrantState.REVOKED)):
            await tx.grants.add(_grant(gid, state))
        await tx.grants.update("g-22222222", GrantState.ACTIVE, expires_at=T0 + timedelta(hours=1))
        await tx.grants.update("g-33333333", GrantState.ACTIVE, expires_at=T0 + timedelta(hours=2))
    await upgrade(engine)
    async with store.tx() as tx:
        states = {r: (await tx.requests.get(r)).state for r in  # type: ignore[union-attr]
                  ("r-22222222", "r-33333333", "r-44444444", "r-55555555", "r-66666666")}
        assert states == {"r-22222222": RequestState.PENDING, "r-33333333": RequestState.CANCELLED,
                          "r-44444444": RequestState.CANCELLED, "r-55555555": RequestState.PENDING,
                          "r-66666666": RequestState.CANCELLED}
        kept, dropped = await tx.grants.get("g-33333333"), await tx.grants.get("g-22222222")
        assert kept and kept.state is GrantState.ACTIVE  # the one ending last stays
        assert dropped and dropped.state is GrantState.REVOKING and dropped.revoke_reason == "duplicate"
        assert [(e.kind, e.payload) for e in await tx.outbox.pending_effects_for_key("cf:acc:grp")] == [
            ("cf.sync", {"account_id": "acc", "group_id": "grp"})]
        rows = await tx.audit.rows()
        assert first_broken(rows) is None
        assert sorted(r["request_id"] for r in rows if r["action"] == "request.cancelled") == [
            "r-33333333", "r-44444444", "r-66666666"]
        # and from now on the database refuses what the races made
        assert await tx.requests.add(_req("r-77777777", 9)) is Inserted.CONFLICT
        assert await tx.requests.add(_req("r-88888888", 9, RequestKind.EXTEND, "g-22222222")) is Inserted.CONFLICT
        assert await tx.grants.add(_grant("g-55555555", GrantState.PENDING)) is Inserted.CONFLICT
    await engine.dispose()
