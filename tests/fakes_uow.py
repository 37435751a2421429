"""An in-memory unit of work (cosmicpython's FakeUnitOfWork): use cases run on it in milliseconds, no database."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

from bot.domain import repositories
from bot.domain.audit import GENESIS_HASH, AuditEvent, canonical_json, seal
from bot.domain.checkpoint import Checkpoint
from bot.domain.clock import Clock
from bot.domain.model import GrantState, RequestState
from bot.domain.repositories import PRUNE_BATCH
from tests.fake_outbox import FakeMembers, FakeOutbox
from tests.fake_repos import FakeDb, FakeGrants, FakeRepo, FakeRequests, Row


class FakeAuditLog(FakeRepo):
    """The hash chain in memory; rows come back as the database gives them (details through canonical JSON)."""

    def __init__(self, db: FakeDb, clock: Clock) -> None:
        super().__init__(db, clock)
        self.audited: list[dict[str, Any]] = []

    async def lock(self) -> None:
        """Nothing to lock: the fake store lets one unit of work run at a time."""

    async def head(self) -> tuple[int, str]:
        """The number of events and the last one's hash."""
        return (self.db.audit[-1]["seq"], self.db.audit[-1]["hash"]) if self.db.audit else (0, GENESIS_HASH)

    async def append(self, event: AuditEvent) -> dict[str, Any]:
        """Seal the event onto the chain."""
        seq, prev = await self.head()
        record = seal(event, seq + 1, self.clock.now(), prev)
        self.db.audit.append({**record, "details": json.loads(canonical_json(record["details"]))})
        self.audited.append(record)
        return record

    async def append_many(self, events: list[AuditEvent]) -> list[dict[str, Any]]:
        """Seal the events onto the chain in order."""
        return [await self.append(e) for e in events]

    async def rows(self, *, since_seq: int = 0, since_at: str | None = None, limit: int | None = None,
                   action: str | None = None, role: str | None = None, actor: str | None = None,
                   subject: str | None = None, newest: bool = False) -> list[dict[str, Any]]:
        """Filtered rows, oldest first (the newest `limit` when `newest`); actor and subject mean either one."""
        people = [(k, v) for k, v in (("actor", actor), ("subject", subject)) if v]
        rows = [copy.deepcopy(r) for r in self.db.audit
                if r["seq"] > since_seq and (not since_at or r["at"] >= since_at)
                and (not action or r["action"] == action) and (not role or r["role"] == role)
                and (not people or any(r[k] == v for k, v in people))]
        if limit:
            rows = rows[-limit:] if newest else rows[:limit]
        return rows

    async def by_seqs(self, seqs: list[int]) -> list[dict[str, Any]]:
        """The rows numbered `seqs` that exist, in seq order."""
        wanted = set(seqs)
        return [copy.deepcopy(r) for r in self.db.audit if r["seq"] in wanted]

    async def stream(self, *, since_seq: int = 0, since_at: str | None = None,
                     page: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every row after `since_seq` (at or after `since_at`), oldest first, read a page at a time by seq."""
        async def read_page(after: int, size: int) -> list[dict[str, Any]]:
            return await self.rows(since_seq=after, since_at=since_at, limit=size)

        async for row in repositories.keyset_pages(read_page, since_seq, page or repositories.AUDIT_PAGE):
            yield row


class FakeCheckpoints(FakeRepo):
    """Stored checkpoints in memory."""

    async def last(self) -> Any:
        """The newest stored checkpoint, or None."""
        return Row(dict(self.db.checkpoints[-1])) if self.db.checkpoints else None

    async def add(self, cp: Checkpoint) -> None:
        """Store a checkpoint."""
        self.db.checkpoints.append(dict(tree_size=cp.size, head_hash=cp.head, at=cp.at, prev_hash=cp.previous,
                                        note_hash=cp.hash, note=cp.note))


class FakeSlackState(FakeRepo):
    """Approval messages and App Home viewers in memory."""

    async def add_approval_message(self, request_id: str, channel: str, ts: str, approver: str | None) -> None:
        """Remember where an approval message went."""
        self.db.approval_messages.append(dict(request_id=request_id, channel=channel, ts=ts, approver=approver))

    async def approval_messages(self, request_id: str) -> list[Any]:
        """Where the request's approval messages went."""
        return [Row(dict(m)) for m in self.db.approval_messages if m["request_id"] == request_id]

    async def audit_thread(self, request_id: str, channel: str) -> str | None:
        """The request's thread in that audit channel, or None."""
        found = self.db.audit_threads.get(request_id)
        return found[1] if found and found[0] == channel else None

    async def add_audit_thread(self, request_id: str, channel: str, ts: str) -> None:
        """Remember the request's audit thread (replacing one in another channel)."""
        self.db.audit_threads[request_id] = (channel, ts)

    async def saw_home(self, user_id: str) -> None:
        """Remember a Home opener (the first time counts)."""
        self.db.home_viewers.setdefault(user_id, self.clock.now())

    async def home_viewers(self, user_ids: list[str]) -> list[str]:
        """Those who opened the Home, in the given order, once each."""
        return [u for u in dict.fromkeys(user_ids) if u in self.db.home_viewers]


class FakeDeliveries(FakeRepo):
    """Delivery keys in memory."""

    async def first(self, key: str) -> bool:
        """True the first time a key (cut to 200 characters) is seen."""
        if key[:200] in self.db.deliveries:
            return False
        self.db.deliveries[key[:200]] = self.clock.now()
        return True

    async def first_of(self, keys: Sequence[str]) -> set[str]:
        """Record every key at once; the ones (as given) seen for the first time."""
        return {key for key in dict.fromkeys(keys) if await self.first(key)}

    async def prune(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Forget up to `limit` delivery keys first seen before `before`, oldest first."""
        old = sorted((at, key) for key, at in self.db.deliveries.items() if at < before)[:limit]
        for _, key in old:
            del self.db.deliveries[key]
        return len(old)


class FakeUnitOfWork:
    """The UnitOfWork port over a FakeDb; `lock_person` calls are recorded."""

    def __init__(self, db: FakeDb, clock: Clock) -> None:
        self.requests = FakeRequests(db, clock)
        self.grants = FakeGrants(db, clock)
        self.members = FakeMembers(db, clock)
        self.outbox = FakeOutbox(db, clock)
        self.audit = FakeAuditLog(db, clock)
        self.checkpoints = FakeCheckpoints(db, clock)
        self.slack = FakeSlackState(db, clock)
        self.deliveries = FakeDeliveries(db, clock)
        self.db = db
        self.locked: list[str] = []

    @property
    def enqueued(self) -> bool:
        """Whether an effect was owed."""
        return self.outbox.enqueued

    @property
    def audited(self) -> list[dict[str, Any]]:
        """The audit rows appended."""
        return self.audit.audited

    async def lock_person(self, user_id: str) -> None:
        """Record the lock (the fake store already runs one unit of work at a time)."""
        self.locked.append(user_id)

    async def ping(self) -> None:
        """The memory always answers."""

    async def next_due(self) -> datetime | None:
        """The earliest expiry, warning, request timeout or effect."""
        grants = [g for g in self.db.grants.values() if g.state is GrantState.ACTIVE]
        times = [g.expires_at for g in grants if g.expires_at]
        times += [g.warn_at for g in grants if g.warn_at and not g.warned]
        times += [r.expires_at for r in self.db.requests.values() if r.state is RequestState.PENDING]
        times += [r.starts_at for r in self.db.requests.values()
                  if r.state is RequestState.SCHEDULED and r.starts_at is not None]
        times += [e["next_at"] for e in self.db.effects if e["state"] == "pending"]
        times += [t for r in self.db.requests.values() if r.state is RequestState.PENDING
                  for t in (r.remind_at, r.escalate_at) if t]
        times += [g.review_remind_at for g in self.db.grants.values() if g.review_remind_at and not g.acknowledged_at]
        return min(times) if times else None


class FakeStore:
    """The UnitOfWorkFactory port in memory: one unit of work at a time; an exception rolls everything back."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.db = FakeDb()
        self.commits = 0
        self.after_commit: list[Callable[[FakeUnitOfWork], None]] = []
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[FakeUnitOfWork]:
        """A unit of work on a copy of the data, kept at the end of the block, dropped on an exception."""
        async with self._lock:
            work = copy.deepcopy(self.db)
            tx = FakeUnitOfWork(work, self.clock)
            yield tx
            self.db = work
            self.commits += 1
        for hook in self.after_commit:
            hook(tx)

    def single(self) -> AbstractAsyncContextManager[FakeUnitOfWork]:
        """One statement's unit of work: here a `tx()`."""
        return self.tx()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[FakeUnitOfWork]:
        """A look at a copy of the data; nothing done through it is kept."""
        yield FakeUnitOfWork(copy.deepcopy(self.db), self.clock)

    # ---- what tests look at -------------------------------------------------------------------
    def effects(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Committed effects (of one kind), oldest first."""
        return [e for e in self.db.effects if kind is None or e["kind"] == kind]

    def actions(self) -> list[str]:
        """The committed audit actions, in order."""
        return [r["action"] for r in self.db.audit]


class FakeLocker:
    """The Locker port in one process: named asyncio locks."""

    def __init__(self) -> None:
        self.locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def try_hold(self, name: str) -> AsyncIterator[bool]:
        """Hold the named lock if free (True), else False at once."""
        lock = self.locks.setdefault(name, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    @asynccontextmanager
    async def hold(self, name: str, poll: float = 0.05) -> AsyncIterator[None]:
        """Wait for the named lock and hold it."""
        async with self.locks.setdefault(name, asyncio.Lock()):
            yield
