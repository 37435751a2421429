"""The `bigdb` benchmark's database (benchmarks/bigdb_seed.py): the mix it promises, within the database's rules,
with an audit chain that verifies, copied from a cache made once; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from benchmarks.bigdb_seed import Size, audit_cache, seed_audit, seed_state
from bot.bootstrap import open_store
from bot.domain.audit import first_broken
from bot.domain.clock import ManualClock
from bot.storage import tables as t

TINY = Size(grants=500, users=50, roles=5, active=100, pending=20, effects_per_grant=2, audit=300)


async def test_the_seeded_database_holds_the_promised_mix_and_a_verifying_audit_chain(
        database_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ACCESSBOT_BENCH_CACHE", str(tmp_path / "cache"))
    store = await open_store(database_url, ManualClock(datetime.now(UTC)))
    try:
        await seed_state(store, TINY)
        await seed_audit(store, TINY.audit)
        async with store.read() as tx:
            grants = await tx.grants.counts_by_state()
            pending = await tx.requests.pending()
            effects = await tx.outbox.effect_counts()
            people = (await tx.conn.execute(select(func.count(func.distinct(t.grants.c.requester))))).scalar()
            chain = [r async for r in tx.audit.stream()]
    finally:
        await store.engine.dispose()
    assert grants == {"active": 100, "revoked": 300, "failed": 100} and people == 50
    assert len(pending) == 20 and effects == {"done": 1000}
    assert len(chain) == 300 and first_broken(chain) is None
    assert audit_cache(TINY.audit).exists(), "made once, reused by later runs"
