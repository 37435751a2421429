"""Where signed audit checkpoints are kept in the database: the audit_checkpoints table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.checkpoint import Checkpoint
from bot.storage import tables as t
from bot.storage.repos.base import SqlRepo


class SqlCheckpoints(SqlRepo):
    """The Checkpoints repository on the audit_checkpoints table."""

    async def last(self) -> Any:
        """The newest stored checkpoint row, or None."""
        return (await self.conn.execute(
            select(t.audit_checkpoints).order_by(t.audit_checkpoints.c.id.desc()).limit(1))).first()

    async def add(self, cp: Checkpoint) -> None:
        """Store a checkpoint just signed."""
        await self.conn.execute(insert(t.audit_checkpoints).values(
            tree_size=cp.size, head_hash=cp.head, at=cp.at, prev_hash=cp.previous, note_hash=cp.hash,
            note=cp.note))


async def stored_notes(conn: AsyncConnection) -> list[str]:
    """Every stored checkpoint's signed note, in the order they were written (a read: no transaction needed)."""
    rows = await conn.execute(select(t.audit_checkpoints.c.note).order_by(t.audit_checkpoints.c.id))
    return [r.note for r in rows]
