"""Seed grants with given expiries into a fresh bench, start serve, and time how the expiries are carried out."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from benchmarks.harness import GROUP_IDS, Bench, open_bench
from benchmarks.seed import seed_grants, wall_to_mono
from bot.domain.model import GrantState
from bot.simulators.stack import ACCOUNT
from bot.storage import tables as t

# Serve must be up before the first expiry: a run whose seeding overran (a loaded machine) moves every expiry
# later by one delta, so it still times what serve does from the expiry on, not how long seeding took.
SERVE_START_S = 15.0  # start-up is 1-2 s on a quiet machine, far more on a loaded one


@dataclass
class ExpiryResult:
    """What one expiry run measured."""

    lags_ms: list[float]       # revoked_at - expires_at, per grant
    all_gone_s: float          # from the first expiry until no seeded email is left in Cloudflare
    calls: int                 # Cloudflare calls from the first expiry on
    refused_429: int           # of them, answered 429
    peak_rss_mb: float         # serve's VmHWM at the end


def _emails_left(bench_cf: object, groups: int, emails: set[str]) -> int:
    """How many seeded emails the Cloudflare groups still hold."""
    left = 0
    for gid in GROUP_IDS[:groups]:
        body = bench_cf.group(ACCOUNT, gid)  # type: ignore[attr-defined]
        left += sum(1 for r in body["include"] if r.get("email", {}).get("email") in emails)
    return left


async def _not_before(bench: Bench, expiries: list[datetime], earliest: datetime) -> list[datetime]:
    """The expiries, every one moved later by the same delta (in the database too) when the first is before
    `earliest`."""
    late = earliest - min(expiries)
    if late <= timedelta(0):
        return expiries
    async with bench.store.tx() as tx:
        for at in sorted(set(expiries), reverse=True):  # latest first: a moved value never meets an unmoved one
            await tx.conn.execute(update(t.grants).where(t.grants.c.expires_at == at).values(expires_at=at + late))
    return [at + late for at in expiries]


async def run_expiries(db: str, expiries: list[datetime], groups: int, latency: float,
                       timeout: float) -> ExpiryResult:
    """Seed one grant per expiry, start serve, wait until every grant is revoked (TimeoutError after `timeout`
    seconds past the last expiry)."""
    bench = await open_bench(db, groups, latency)
    try:
        emails = await seed_grants(bench, expiries, groups)
        expiries = await _not_before(bench, expiries, datetime.now(UTC) + timedelta(seconds=SERVE_START_S))
        await bench.start_serve()
        first = wall_to_mono(min(expiries))
        deadline = wall_to_mono(max(expiries)) + timeout
        gone_at = None
        while True:
            if gone_at is None and time.monotonic() >= first and _emails_left(bench.cloudflare, groups, emails) == 0:
                gone_at = time.monotonic()
            async with bench.store.tx() as tx:
                counts = await tx.grants.counts_by_state()
            if counts.get(GrantState.REVOKED.value, 0) == len(expiries) and gone_at is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"revocations never finished: grants by state {counts} after {timeout:.0f} s; "
                                   f"serve log {bench.serve.log_path}")
            bench.check_serving()
            await asyncio.sleep(0.05)
        async with bench.store.tx() as tx:
            grants = await tx.grants.find()
        lags = [(g.revoked_at - g.expires_at).total_seconds() * 1000 for g in grants
                if g.revoked_at is not None and g.expires_at is not None]
        later = [c for c in bench.cloudflare.calls if c.at >= first]
        return ExpiryResult(lags, gone_at - first, len(later), sum(1 for c in later if c.status == 429),
                            bench.memory_kb("VmHWM") / 1024)
    except BaseException:
        bench.keep = True
        raise
    finally:
        await bench.close()
