"""The in-memory unit of work keeps the database's rules, so use cases behave on it as on SQLite.

The same tests run against the SQL store in tests/integration/test_repository_contract.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.audit import GENESIS_HASH, AuditEvent, first_broken
from bot.domain.clock import ManualClock
from bot.domain.lanes import LANE_CF_ADD, LANE_CF_REMOVE, LANE_OTHER
from bot.domain.model import AccessRequest, Grant, GrantState, RequestKind, RequestState, Vote, VoteChoice
from bot.domain.repositories import Inserted
from tests.fakes_uow import FakeStore

H = timedelta(hours=1)


@pytest.fixture
def store() -> FakeStore:
    """An empty in-memory store on a manual clock."""
    return FakeStore(ManualClock())

# Every test below takes any UnitOfWorkFactory with a ManualClock as `store` (typed FakeStore for brevity).


def _req(store: FakeStore, rid: str, kind: RequestKind = RequestKind.NEW, grant_id: str | None = None,
         requester: str = "U1") -> AccessRequest:
    """A pending request of prod-db by `requester`."""
    now = store.clock.now()
    return AccessRequest(rid, "prod-db", requester, "a@x.io", H, "why", now, now + H, kind=kind, grant_id=grant_id)


def _grant(store: FakeStore, gid: str, state: GrantState = GrantState.PENDING) -> Grant:
    """A grant of prod-db to U1 in `state`."""
    return Grant(gid, "r-1", "prod-db", "U1", "a@x.io", "acct", "grp", H, store.clock.now(), state=state)


async def test_an_exception_rolls_back_everything_the_unit_of_work_wrote(store: FakeStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.tx() as tx:
            await tx.requests.add(_req(store, "r-1"))
            await tx.outbox.enqueue("notify.user", {"user": "U1"})
            raise RuntimeError("boom")
    async with store.tx() as tx:
        assert await tx.requests.get("r-1") is None
        assert await tx.outbox.due_effects(store.clock.now()) == []


async def test_the_unique_rules_refuse_second_pending_requests_extensions_and_live_grants(store: FakeStore) -> None:
    async with store.tx() as tx:
        assert await tx.requests.add(_req(store, "r-1")) is Inserted.OK
        assert await tx.requests.add(_req(store, "r-1")) is Inserted.ID_TAKEN
        assert await tx.requests.add(_req(store, "r-2")) is Inserted.CONFLICT
        assert await tx.requests.add(_req(store, "r-3", RequestKind.EXTEND, "g-1")) is Inserted.OK
        assert await tx.requests.add(_req(store, "r-4", RequestKind.EXTEND, "g-1")) is Inserted.CONFLICT
        assert await tx.requests.add(_req(store, "r-5", RequestKind.EXTEND, "g-2")) is Inserted.OK
        assert await tx.grants.add(_grant(store, "g-1")) is Inserted.OK
        assert await tx.grants.add(_grant(store, "g-1", GrantState.REVOKED)) is Inserted.ID_TAKEN
        assert await tx.grants.add(_grant(store, "g-2")) is Inserted.CONFLICT
        assert await tx.grants.add(_grant(store, "g-3", GrantState.REVOKED)) is Inserted.OK
        assert await tx.requests.move("r-1", RequestState.PENDING, RequestState.CANCELLED)
        assert await tx.requests.add(_req(store, "r-6")) is Inserted.OK


async def test_moves_and_extensions_are_compare_and_set(store: FakeStore) -> None:
    async with store.tx() as tx:
        await tx.requests.add(_req(store, "r-1"))
        assert await tx.requests.move("r-1", RequestState.PENDING, RequestState.APPROVED, decided_by="U2")
        assert not await tx.requests.move("r-1", RequestState.PENDING, RequestState.DENIED)
        assert (await tx.requests.get("r-1")).decided_by == "U2"  # type: ignore[union-attr]
        await tx.grants.add(_grant(store, "g-1"))
        end = store.clock.now() + H
        assert await tx.grants.move("g-1", (GrantState.PENDING,), GrantState.ACTIVE, expires_at=end)
        assert not await tx.grants.extend("g-1", end - H, end + H, None)
        assert await tx.grants.extend("g-1", end, end + H, None)
        assert not await tx.grants.update("g-1", GrantState.PENDING, warned=True)


async def test_a_voter_votes_once_and_votes_come_back_with_the_request(store: FakeStore) -> None:
    async with store.tx() as tx:
        await tx.requests.add(_req(store, "r-1"))
        vote = Vote("r-1", "U2", VoteChoice.APPROVE, store.clock.now())
        assert await tx.requests.add_vote(vote)
        assert not await tx.requests.add_vote(Vote("r-1", "U2", VoteChoice.DENY, store.clock.now()))
        assert (await tx.requests.get("r-1")).votes == [vote]  # type: ignore[union-attr]


async def test_due_keys_come_lane_by_lane_each_key_once_in_its_most_urgent_lane(store: FakeStore) -> None:
    async with store.tx() as tx:
        await tx.outbox.enqueue("notify.user", {}, key="slack")
        await tx.outbox.enqueue("cf.sync", {}, key="cf:a:g", lane=LANE_CF_ADD)
        await tx.outbox.enqueue("cf.sync", {}, key="cf:a:g", lane=LANE_CF_REMOVE)
        await tx.outbox.enqueue("cf.sync", {}, key="cf:later", at=store.clock.now() + H)
        assert await tx.outbox.due_keys(store.clock.now()) == [("cf:a:g", LANE_CF_REMOVE), ("slack", LANE_OTHER)]
        assert tx.enqueued


async def test_the_audit_log_is_a_hash_chain_and_filters_by_person(store: FakeStore) -> None:
    async with store.tx() as tx:
        await tx.audit.append(AuditEvent("U1", "request.created", subject="a@x.io"))
        await tx.audit.append(AuditEvent("U2", "request.vote"))
        await tx.audit.append(AuditEvent("U3", "request.vote", subject="U1"))
        rows = await tx.audit.rows()
        assert first_broken(rows) is None and rows[0]["prev_hash"] == GENESIS_HASH
        assert await tx.audit.head() == (3, rows[-1]["hash"])
        assert [r["seq"] for r in await tx.audit.rows(actor="U1", subject="U1")] == [1, 3]
        assert [r["seq"] for r in await tx.audit.rows(limit=2, newest=True)] == [2, 3]
        assert await tx.audit.by_seqs([3, 9, 1]) == [rows[0], rows[2]]  # seq order; a missing seq is left out
        assert await tx.audit.by_seqs([]) == []


async def test_grants_page_by_creation_time_then_id_after_a_keyset_cursor(store: FakeStore) -> None:
    t0 = store.clock.now()
    async with store.tx() as tx:
        for n, (gid, minutes, state) in enumerate((("g-5", 2, GrantState.REVOKED), ("g-2", 0, GrantState.REVOKED),
                                                   ("g-3", 1, GrantState.FAILED), ("g-4", 1, GrantState.ACTIVE),
                                                   ("g-1", 2, GrantState.REVOKED))):
            await tx.grants.add(Grant(gid, "r-1", "prod-db", f"U{n}", "A@x.io" if n % 2 else "b@x.io", "acct", "grp",
                                      H, t0 + timedelta(minutes=minutes), state=state))
    async with store.tx() as tx:
        everything = [g.id for g in await tx.grants.find(limit=10)]
        after_first = [g.id for g in await tx.grants.find(after=(t0, "g-2"), limit=2)]
        ties = [g.id for g in await tx.grants.find(after=(t0 + timedelta(minutes=1), "g-3"))]
        ended = [g.id for g in await tx.grants.find(states=(GrantState.REVOKED, GrantState.FAILED, GrantState.PENDING,
                                                            GrantState.REVOKING), limit=10)]
        mine = [g.id for g in await tx.grants.find(email="a@X.io", after=(t0, "g-2"), limit=5)]
    assert everything == ["g-2", "g-3", "g-4", "g-1", "g-5"]
    assert after_first == ["g-3", "g-4"] and ties == ["g-4", "g-1", "g-5"]
    assert ended == ["g-2", "g-3", "g-1", "g-5"] and mine == ["g-4"]
