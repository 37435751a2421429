"""Many active grants written straight into the database (and the Cloudflare groups), as if approved earlier."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime

from benchmarks.harness import GROUP_IDS, Bench
from bot.domain.model import Grant, GrantState
from bot.simulators.stack import ACCOUNT

_CHUNK = 1000


def email_of(i: int) -> str:
    """The email of the benchmark's i-th person."""
    return f"bench{i:05d}@example.com"


async def seed_grants(bench: Bench, expiries: list[datetime], groups: int) -> set[str]:
    """One active grant per expiry (person i on group i % groups), owned by the bot and present in Cloudflare;
    the emails."""
    now = datetime.now(UTC)
    by_group: dict[str, set[str]] = defaultdict(set)
    grants = []
    for i, expires_at in enumerate(expiries):
        gid = GROUP_IDS[i % groups]
        email = email_of(i)
        by_group[gid].add(email)
        grants.append(Grant(f"g-B{i:07d}", f"r-B{i:07d}", f"bench-{i % groups}", f"U0B{i:06d}", email, ACCOUNT, gid,
                            expires_at - now, now, state=GrantState.ACTIVE, granted_at=now, expires_at=expires_at))
    for start in range(0, len(grants), _CHUNK):
        async with bench.store.tx() as tx:
            for g in grants[start:start + _CHUNK]:
                await tx.grants.add(g)  # add() writes a pending grant's columns; update() makes it active
                await tx.grants.update(g.id, GrantState.ACTIVE, granted_at=g.granted_at, expires_at=g.expires_at)
    async with bench.store.tx() as tx:
        for gid, emails in by_group.items():
            await tx.members.add(ACCOUNT, gid, emails)
    for gid, emails in by_group.items():
        bench.cloudflare.add_group(ACCOUNT, gid, name=f"bench {gid[:8]}",
                                   include=[{"email": {"email": e}} for e in sorted(emails)])
    for i in range(len(expiries)):
        bench.slack.add_user(f"U0B{i:06d}", email=email_of(i))
    return set().union(*by_group.values()) if by_group else set()


def wall_to_mono(at: datetime) -> float:
    """A wall-clock instant on the monotonic clock the simulator stamps its calls with."""
    return time.monotonic() + (at - datetime.now(UTC)).total_seconds()
