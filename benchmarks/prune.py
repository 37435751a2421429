"""Benchmark: the retention prune on a database holding N old delivery keys and N old done effects.

Run: `.venv/bin/python benchmarks/prune.py DATABASE_URL [N]` (N defaults to 200,000; the database must be empty
or new). Rows are inserted in bulk 31 days in the past, plus 1,000 fresh ones of each that must stay; then one
prune with the default retention (30 days) runs, batch by batch as the retention job does (on SQLite small batches
with pauses between them, `bot.retention.GiveWay`), and its time and counts are printed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import func, insert, select

from bot.domain.clock import ManualClock
from bot.domain.retention import DEFAULT_RETENTION
from bot.retention import ONE_WRITER_BATCH, GiveWay
from bot.services.retention import prune
from bot.storage import tables as t

BATCH = 10_000
KEEP = 1_000


async def _fill(store: object, n: int, at: datetime, tag: str) -> None:
    """Insert n delivery keys seen at `at` and n effects done at `at`, in batches."""
    for start in range(0, n, BATCH):
        rows = range(start, min(n, start + BATCH))
        async with store.engine.begin() as conn:  # type: ignore[attr-defined]
            await conn.execute(insert(t.deliveries), [{"key": f"{tag}:{i}", "at": at} for i in rows])
            await conn.execute(insert(t.effects), [
                {"kind": "notify.user", "key": f"{tag}:{i}", "payload": {}, "state": "done", "attempts": 1,
                 "next_at": at, "created_at": at, "done_at": at, "alerts": 0, "lane": 3} for i in rows])


async def main(url: str, n: int) -> None:
    """Fill, prune once, report."""
    from bot.bootstrap import open_store

    now = datetime.now(UTC)
    store = await open_store(url, ManualClock(now), migrate=True)
    try:
        await _fill(store, n, now - DEFAULT_RETENTION - timedelta(days=1), "old")
        await _fill(store, KEEP, now - timedelta(hours=1), "new")
        started = time.perf_counter()
        deps = SimpleNamespace(store=store, clock=store.clock)
        if store.pg:
            pruned = await prune(deps, DEFAULT_RETENTION)
        else:  # as the retention job prunes SQLite (bot.retention)
            pruned = await prune(deps, DEFAULT_RETENTION, batch=ONE_WRITER_BATCH, pause=GiveWay())
        took = time.perf_counter() - started
        async with store.engine.connect() as conn:
            left = [(await conn.execute(select(func.count()).select_from(tb))).scalar_one()
                    for tb in (t.deliveries, t.effects)]
    finally:
        await store.engine.dispose()
    print(f"pruned {pruned.effects} effects and {pruned.deliveries} delivery keys in {took:.1f} s "
          f"({(pruned.effects + pruned.deliveries) / took:,.0f} rows/s); left: {left[0]} keys, {left[1]} effects")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200_000))
