"""Seed grants with given expiries into a fresh bench, start serve, and time how the expiries are carried out."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from benchmarks.harness import GROUP_IDS, open_bench
from benchmarks.seed import seed_grants, wall_to_mono
from bot.domain.model import GrantState
from bot.simulators.stack import ACCOUNT


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


async def run_expiries(db: str, expiries: list[datetime], groups: int, latency: float,
                       timeout: float) -> ExpiryResult:
    """Seed one grant per expiry, start serve, wait until every grant is revoked (TimeoutError after `timeout`
    seconds past the last expiry)."""
    bench = await open_bench(db, groups, latency)
    try:
        emails = await seed_grants(bench, expiries, groups)
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
            if bench.serve.proc is not None and bench.serve.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {bench.serve.proc.returncode}; log {bench.serve.log_path}")
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
