"""The hash-chained audit log in SQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import insert, or_, select, text

from bot.domain import repositories
from bot.domain.audit import FIELDS, GENESIS_HASH, AuditEvent, canonical_json, seal
from bot.storage import tables as t
from bot.storage.repos.base import SqlRepo

AUDIT_LOCK = 727100002


# The audit_log columns in the order of the fields the hash covers (a row is read as a plain tuple: fast).
_COLUMNS = [t.audit_log.c[name] for name in FIELDS]


def audit_row(row: Any) -> dict[str, Any]:
    """An audit_log row selected as `_COLUMNS` as the dict the hash covers (details parsed back from their
    canonical JSON)."""
    record = dict(zip(FIELDS, row, strict=True))
    record["details"] = json.loads(record["details"])
    return record


class SqlAuditLog(SqlRepo):
    """The AuditLog repository on the audit_log table; `audited` holds the rows this transaction appended."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.audited: list[dict[str, Any]] = []

    async def lock(self) -> None:
        """Hold the audit chain's lock for the rest of the transaction (PostgreSQL; SQLite has one writer)."""
        if self.pg:
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})

    async def head(self) -> tuple[int, str]:
        """The number of audit events and the chain hash of the last one (the genesis hash when there is none)."""
        last = (await self.conn.execute(
            select(t.audit_log.c.seq, t.audit_log.c.hash).order_by(t.audit_log.c.seq.desc()).limit(1))).first()
        return (int(last.seq), last.hash) if last else (0, GENESIS_HASH)

    async def append(self, event: AuditEvent) -> dict[str, Any]:
        """Append an event to the hash chain (serialised across processes) and return its row."""
        await self.lock()
        seq, prev = await self.head()
        record = seal(event, seq + 1, self.clock.now(), prev)
        await self.conn.execute(insert(t.audit_log).values(
            **{**record, "details": canonical_json(record["details"])}))
        self.audited.append(record)
        return record

    async def append_many(self, events: list[AuditEvent]) -> list[dict[str, Any]]:
        """Extend the chain by every event at once: one lock, one read of the head, the hashes chained in Python,
        one multi-row insert."""
        if not events:
            return []
        await self.lock()
        seq, prev = await self.head()
        at = self.clock.now()
        records = []
        for event in events:
            seq += 1
            record = seal(event, seq, at, prev)
            prev = record["hash"]
            records.append(record)
        await self.conn.execute(insert(t.audit_log),
                                [{**r, "details": canonical_json(r["details"])} for r in records])
        self.audited += records
        return records

    async def rows(self, *, since_seq: int = 0, since_at: str | None = None, limit: int | None = None,
                   action: str | None = None, role: str | None = None, actor: str | None = None,
                   subject: str | None = None, newest: bool = False) -> list[dict[str, Any]]:
        """Audit rows in order (oldest first unless `newest`), filtered; `actor` and `subject` together
        mean either one (a person's events: what they did, and what was done about them)."""
        q = select(*_COLUMNS).where(t.audit_log.c.seq > since_seq)
        if since_at:
            q = q.where(t.audit_log.c.at >= since_at)
        if action:
            q = q.where(t.audit_log.c.action == action)
        if role:
            q = q.where(t.audit_log.c.role == role)
        people = [c == v for c, v in ((t.audit_log.c.actor, actor), (t.audit_log.c.subject, subject)) if v]
        if people:
            q = q.where(or_(*people))
        q = q.order_by(t.audit_log.c.seq.desc() if newest else t.audit_log.c.seq)
        if limit:
            q = q.limit(limit)
        rows = [audit_row(r) for r in (await self.conn.execute(q)).all()]
        return list(reversed(rows)) if newest else rows

    async def by_seqs(self, seqs: list[int]) -> list[dict[str, Any]]:
        """The audit rows numbered `seqs` that exist, in seq order (one query on the primary key)."""
        if not seqs:
            return []
        q = select(*_COLUMNS).where(t.audit_log.c.seq.in_(seqs)).order_by(t.audit_log.c.seq)
        return [audit_row(r) for r in (await self.conn.execute(q)).all()]

    async def stream(self, *, since_seq: int = 0, since_at: str | None = None,
                     page: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every row after `since_seq` (and at or after `since_at`), oldest first, `page` rows a query (keyset
        on seq: each page starts after the last seq seen, so no row is read twice or skipped)."""
        async def read_page(after: int, size: int) -> list[dict[str, Any]]:
            return await self.rows(since_seq=after, since_at=since_at, limit=size)

        async for row in repositories.keyset_pages(read_page, since_seq, page or repositories.AUDIT_PAGE):
            yield row
