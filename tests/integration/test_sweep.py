"""A sweep on SQLite and PostgreSQL: many grants falling due together land in revoking before any group worker
reads, so each group is written once, and every grant is revoked, audited and announced once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import insert, select

from bot.domain.audit import first_broken
from bot.domain.model import GrantState
from bot.storage import tables as t
from tests.core_harness import ACCOUNT, GROUP, GROUP2, make_core

N = 1100  # more than one expiry batch (bot.services.grants.EXPIRE_BATCH)


async def test_a_sweep_across_batches_writes_each_group_once_and_revokes_every_grant_once(
        database_url: str) -> None:
    core = await make_core(database_url)
    now = core.clock.now()
    rows = [dict(id=f"g-{i:08d}", request_id=f"r-{i:08d}", role="two-man", requester=f"U{i:08d}", email=f"p{i}@x.io",
                 account_id=ACCOUNT, group_id=(GROUP, GROUP2)[i % 2], duration_s=3600, created_at=now,
                 state=GrantState.ACTIVE.value, warned=False, revoke_sessions=False, granted_at=now, expires_at=now)
            for i in range(N)]
    async with core.deps.store.tx() as tx:
        await tx.conn.execute(insert(t.grants), rows)  # one statement: the sweep is what is timed, not the seeding
        for group in (GROUP, GROUP2):
            emails = {r["email"] for r in rows if r["group_id"] == group}
            await tx.members.add(ACCOUNT, group, emails)
            core.groups.groups[(ACCOUNT, group)]["include"] += [{"email": {"email": e}} for e in sorted(emails)]
    core.clock.advance(timedelta(seconds=1))
    await core.scheduler.run_until_idle(rounds=2)  # the Cloudflare work; the Slack notices may wait
    assert sorted(core.groups.calls) == [("GET", GROUP), ("GET", GROUP2), ("PUT", GROUP), ("PUT", GROUP2)]
    assert core.groups.emails(ACCOUNT, GROUP) == [] and core.groups.emails(ACCOUNT, GROUP2) == []
    async with core.deps.store.tx() as tx:
        assert await tx.grants.counts_by_state() == {"revoked": N}
        rows = await tx.audit.rows()
    assert first_broken(rows) is None
    revoked = Counter(r["grant_id"] for r in rows if r["action"] == "grant.revoked")
    assert len(revoked) == N and set(revoked.values()) == {1}
    owed = Counter(e.kind for e in await _effects(core))
    assert owed["notify.user"] == owed["notify.thread"] == owed["home.refresh"] == N


async def _effects(core: object) -> list:
    """Every effect row, whatever its state."""
    async with core.deps.store.tx() as tx:  # type: ignore[attr-defined]
        return list((await tx.conn.execute(select(t.effects))).all())
