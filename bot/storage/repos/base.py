"""What every SQL repository shares: the open connection, the clock, the dialect, a checked insert."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.clock import Clock
from bot.domain.repositories import Inserted


class SqlRepo:
    """A repository working inside one transaction's connection."""

    def __init__(self, conn: AsyncConnection, clock: Clock, pg: bool) -> None:
        self.conn = conn
        self.clock = clock
        self.pg = pg

    async def _insert_unique(self, table: Any, row_id: str, values: dict[str, Any]) -> Inserted:
        """Insert a row in a savepoint; a unique violation says whether the ID was taken or a rule broken."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(insert(table).values(id=row_id, **values))
        except IntegrityError:
            taken = (await self.conn.execute(select(table.c.id).where(table.c.id == row_id))).first()
            return Inserted.ID_TAKEN if taken else Inserted.CONFLICT
        return Inserted.OK
