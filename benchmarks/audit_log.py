"""Benchmark: make a database holding N sealed audit events, to time `accessbot audit verify` and `export` on it.

Run: `.venv/bin/python benchmarks/audit_log.py DATABASE_URL [N]` (N defaults to 1,000,000). The database is
migrated to the newest revision, then N events are sealed with the domain's `seal` (so the chain verifies) and
inserted in bulk. Then, by hand:

    DATABASE_URL=... /usr/bin/time -v .venv/bin/accessbot audit verify
    DATABASE_URL=... /usr/bin/time -v .venv/bin/accessbot audit export > /dev/null

and read "Elapsed (wall clock) time" and "Maximum resident set size".
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from bot.domain.audit import GENESIS_HASH, AuditEvent, canonical_json, seal
from bot.domain.clock import SystemClock
from bot.storage import tables as t

BATCH = 10_000
ACTIONS = ("request.created", "request.approved", "grant.activated", "grant.expired", "grant.revoked")


def events(n: int) -> Iterator[dict[str, Any]]:
    """N sealed audit rows, chained from the genesis hash, with details stored as canonical JSON."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        event = AuditEvent(actor=f"U{seq % 997:07d}", action=ACTIONS[seq % len(ACTIONS)],
                           request_id=f"R{seq:09d}", grant_id=f"G{seq:09d}", role=f"role-{seq % 13}",
                           subject=f"person{seq % 991}@example.com",
                           details={"reason": f"ticket OPS-{seq}", "duration": "4h", "n": seq})
        row = seal(event, seq, start + timedelta(seconds=seq), prev)
        prev = row["hash"]
        yield {**row, "details": canonical_json(row["details"])}


async def main(url: str, n: int) -> None:
    """Migrate the database at `url`, then insert n sealed events in batches."""
    from bot.bootstrap import open_store

    store = await open_store(url, SystemClock(), migrate=True)
    started = time.perf_counter()
    try:
        batch: list[dict[str, Any]] = []
        for row in events(n):
            batch.append(row)
            if len(batch) == BATCH:
                async with store.engine.begin() as conn:
                    await conn.execute(insert(t.audit_log), batch)
                batch = []
        if batch:
            async with store.engine.begin() as conn:
                await conn.execute(insert(t.audit_log), batch)
    finally:
        await store.engine.dispose()
    print(f"inserted {n} audit events in {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000))
