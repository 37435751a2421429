"""The Cloudflare call budget in the database: one token bucket row that every replica spends from.

Each take is one short write transaction: the row is read under a lock (`SELECT ... FOR UPDATE` on
PostgreSQL; on SQLite the transaction is `BEGIN IMMEDIATE`, so writers take turns), the bucket arithmetic of
`bot.domain.budget.BudgetPolicy` runs, and the new level is written back before the lock is let go. So two
replicas can never both spend the same slot, and together they stay within the token's budget.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.budget import Bucket, BudgetPolicy, BudgetShort, CallKind
from bot.storage import tables as t
from bot.storage.store import Store

DEFAULT_NAME = "cloudflare"


class SqlBudget:
    """The `CloudflareBudget` port on the shared database (row `name` of cf_budget)."""

    def __init__(self, store: Store, policy: BudgetPolicy, name: str = DEFAULT_NAME) -> None:
        """A budget on `store`'s database; its row is made full on first use."""
        self.store = store
        self.policy = policy
        self.name = name

    async def take(self, n: int, kind: CallKind) -> float:
        """Book `n` calls (see `BudgetPolicy.take`): seconds to wait, or BudgetShort."""
        now = self.store.clock.now().timestamp()
        refused: BudgetShort | None = None
        wait = 0.0
        async with self.store.tx() as tx:
            bucket = await self._locked(tx.conn, now)
            try:
                bucket, wait = self.policy.take(bucket, n, kind, now)
            except BudgetShort as exc:
                refused = exc  # nothing to write; the transaction ends without a change
            else:
                await self._write(tx.conn, bucket)
        if refused is not None:
            raise refused
        return wait

    async def drain(self, seconds: float) -> None:
        """No slot for any replica for `seconds` (see `BudgetPolicy.drain`)."""
        now = self.store.clock.now().timestamp()
        async with self.store.tx() as tx:
            await self._write(tx.conn, self.policy.drain(await self._locked(tx.conn, now), seconds, now))

    async def _locked(self, conn: AsyncConnection, now: float) -> Bucket:
        """The bucket's row (made full if missing), locked until the transaction ends."""
        insert = pg_insert if self.store.pg else sqlite_insert
        full = self.policy.full(now)
        await conn.execute(insert(t.cf_budget).values(name=self.name, level=full.level, at=full.at,
                                                      blocked_until=full.blocked_until)
                           .on_conflict_do_nothing(index_elements=["name"]))
        c = t.cf_budget.c
        query = select(c.level, c.at, c.blocked_until).where(c.name == self.name)
        row = (await conn.execute(query.with_for_update() if self.store.pg else query)).one()
        return Bucket(row.level, row.at, row.blocked_until)

    async def _write(self, conn: AsyncConnection, bucket: Bucket) -> None:
        """Store the bucket's new state."""
        await conn.execute(update(t.cf_budget).where(t.cf_budget.c.name == self.name)
                           .values(level=bucket.level, at=bucket.at, blocked_until=bucket.blocked_until))


__all__ = ["DEFAULT_NAME", "SqlBudget"]
