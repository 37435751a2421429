"""Rows per state of the counted tables (grants, effects), read from state_counts instead of scanning them.

Triggers (migration 0011) add to state_counts in the transaction of every insert, delete and change of state.
On PostgreSQL they append delta rows; a reader that finds more than FOLD_AT of them folds them back into one
row per state with one statement (its DELETE and INSERT are atomic together, and only one transaction folds
at a time while the others skip, so no count is lost or doubled and no fold waits on another).
"""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import tables as t

FOLD_AT = 200  # delta rows (PostgreSQL) beyond which a reader folds them

_FOLD = text("""
WITH gone AS (DELETE FROM state_counts RETURNING tbl, state, n)
INSERT INTO state_counts (tbl, state, n)
SELECT tbl, state, SUM(n) FROM gone GROUP BY tbl, state HAVING SUM(n) <> 0
""")


async def counts_of(conn: AsyncConnection, table: str, *, pg: bool) -> dict[str, int]:
    """How many rows of `table` are in each state (states with none are left out)."""
    c = t.state_counts.c
    rows = (await conn.execute(select(c.state, func.sum(c.n), func.count()).where(c.tbl == table)
                               .group_by(c.state))).all()
    if pg and sum(r[2] for r in rows) > FOLD_AT:
        await fold(conn)
    return {r[0]: int(r[1]) for r in rows if r[1]}


# A transaction-scoped advisory lock lets one fold run at a time and never makes another wait: two folds
# deleting the same rows would wait on each other's transactions, and a fold runs inside transactions that hold
# other locks (the retention prune), so that wait could close a deadlock cycle.
FOLD_LOCK = 0x616363657373  # "access"


async def fold(conn: AsyncConnection) -> bool:
    """Fold PostgreSQL's delta rows into one row per table and state (SQLite keeps one row already), unless
    another transaction is folding right now (then this one skips: the rows stay summed either way); True when
    it folded."""
    if not (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": FOLD_LOCK})).scalar():
        return False
    await conn.execute(_FOLD)
    return True
