"""The SQL unit of work: one transaction carrying the repositories, and the Store that opens it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.clock import Clock
from bot.domain.lanes import KEYS_PER_LANE, LANE_CF_ADD, LANE_CF_OTHER, LANE_CF_REMOVE, LANE_OTHER, LANES, lane_of
from bot.domain.model import GrantState, RequestState
from bot.domain.repositories import Inserted
from bot.logging_setup import log_audited
from bot.storage import tables as t
from bot.storage.checkpoints import SqlCheckpoints
from bot.storage.repos.audit import AUDIT_LOCK, SqlAuditLog, audit_row
from bot.storage.repos.grants import SqlGrants
from bot.storage.repos.members import SqlMembers
from bot.storage.repos.outbox import SqlOutbox
from bot.storage.repos.requests import SqlRequests
from bot.storage.repos.slack_state import SqlDeliveries, SqlSlackState

__all__ = ["Inserted", "KEYS_PER_LANE", "LANES", "LANE_CF_ADD", "LANE_CF_OTHER", "LANE_CF_REMOVE", "LANE_OTHER",
           "Store", "Tx", "audit_row", "lane_of"]

_AUDIT_LOCK = AUDIT_LOCK
_PERSON_LOCK = 727100003  # with a hash of the Slack user ID: one person's filings, one at a time


class Tx:
    """One open transaction (the UnitOfWork port) and its repositories, all on the same connection."""

    def __init__(self, conn: AsyncConnection, clock: Clock, pg: bool) -> None:
        self.conn = conn
        self.clock = clock
        self.pg = pg
        self.requests = SqlRequests(conn, clock, pg)
        self.grants = SqlGrants(conn, clock, pg)
        self.members = SqlMembers(conn, clock, pg)
        self.outbox = SqlOutbox(conn, clock, pg)
        self.audit = SqlAuditLog(conn, clock, pg)
        self.checkpoints = SqlCheckpoints(conn, clock, pg)
        self.slack = SqlSlackState(conn, clock, pg)
        self.deliveries = SqlDeliveries(conn, clock, pg)

    @property
    def enqueued(self) -> bool:
        """Whether any effect was owed in this transaction."""
        return self.outbox.enqueued

    @property
    def audited(self) -> list[dict[str, Any]]:
        """The audit rows appended in this transaction."""
        return self.audit.audited

    async def lock_person(self, user_id: str) -> None:
        """Serialise one person's filings across processes until the transaction ends (PostgreSQL; SQLite
        already has one writer at a time)."""
        if self.pg:
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(:k, hashtext(:u))"),
                                    {"k": _PERSON_LOCK, "u": user_id})

    async def ping(self) -> None:
        """SELECT 1: raises when the database does not answer."""
        await self.conn.execute(text("SELECT 1"))

    async def next_due(self) -> datetime | None:
        """The earliest moment anything falls due: an expiry, a warning, a request timeout, a reminder, an
        escalation, a break-glass review reminder, an effect, a scheduled start."""
        q = select(
            select(func.min(t.grants.c.expires_at)).where(t.grants.c.state == GrantState.ACTIVE.value)
            .scalar_subquery(),
            select(func.min(t.grants.c.warn_at)).where(
                t.grants.c.state == GrantState.ACTIVE.value, t.grants.c.warned.is_(False)).scalar_subquery(),
            select(func.min(t.requests.c.expires_at)).where(
                t.requests.c.state == RequestState.PENDING.value).scalar_subquery(),
            select(func.min(t.effects.c.next_at)).where(t.effects.c.state == "pending").scalar_subquery(),
            select(func.min(t.requests.c.starts_at)).where(
                t.requests.c.state == RequestState.SCHEDULED.value).scalar_subquery(),  # scheduled starts
            # reminders, escalations and break-glass review reminders (issue 11)
            select(func.min(t.requests.c.remind_at)).where(
                t.requests.c.state == RequestState.PENDING.value).scalar_subquery(),
            select(func.min(t.requests.c.escalate_at)).where(
                t.requests.c.state == RequestState.PENDING.value).scalar_subquery(),
            select(func.min(t.grants.c.review_remind_at)).where(t.grants.c.acknowledged_at.is_(None))
            .scalar_subquery(),
        )
        row = (await self.conn.execute(q)).one()
        times = [t.UTCDateTime().process_result_value(v, self.conn.dialect) if isinstance(v, datetime) else
                 _parse_sqlite_dt(v) for v in row if v is not None]
        return min(times) if times else None


def _parse_sqlite_dt(value: Any) -> datetime:
    """SQLite's MIN() hands back the stored text; read it as UTC."""
    dt = datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class Store:
    """Opens units of work (the UnitOfWorkFactory port); on SQLite one writer at a time inside the process."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.pg = engine.dialect.name == "postgresql"
        self._write_lock = asyncio.Lock()
        # the first hook logs every committed audit event (each state change is one): bot.logging_setup
        self.after_commit: list[Callable[[Tx], None]] = [lambda tx: log_audited(tx.audited)]

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A unit of work that only reads, each statement its own short read (autocommit on PostgreSQL; on SQLite
        no BEGIN IMMEDIATE), so a long export or verify paging through the log holds no writer off."""
        async with self.engine.connect() as conn:
            if self.pg:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield Tx(conn, self.clock, self.pg)

    @asynccontextmanager
    async def single(self) -> AsyncIterator[Tx]:
        """One statement that commits by itself: autocommit on PostgreSQL (one round trip instead of three);
        on SQLite a `tx()`, which holds the process's writer lock (a write outside it would wait on the file)."""
        if not self.pg:
            async with self.tx() as tx:
                yield tx
            return
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            tx = Tx(conn, self.clock, True)
            yield tx
        self._committed(tx)

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Tx]:
        """A transaction: commits when the block ends, rolls back on an exception."""
        if self.pg:
            async with self.engine.begin() as conn:
                tx = Tx(conn, self.clock, True)
                yield tx
        else:
            async with self._write_lock, self.engine.connect() as conn:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
                tx = Tx(conn, self.clock, False)
                try:
                    yield tx
                except BaseException:
                    await conn.rollback()
                    raise
                await conn.commit()
        self._committed(tx)

    def _committed(self, tx: Tx) -> None:
        """Run the after-commit hooks on a unit of work that has just committed."""
        for hook in self.after_commit:
            hook(tx)
