"""Scenario 1: grants expiring steadily at R per second over G groups; revocation lag, Cloudflare calls, 429s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.config import Config
from benchmarks.expiry_run import run_expiries
from benchmarks.table import Row

NAME = "1 steady expiries"
BLOCK_S = 300  # Cloudflare blocks a token 5 minutes once its budget is spent; a run waits that out


def sizes(cfg: Config) -> tuple[int, int, float]:
    """(grants, groups, expiries per second)."""
    return (40, 4, 10.0) if cfg.quick else (600, 10, 10.0)


async def run(db: str, cfg: Config) -> list[Row]:
    """Run the scenario `cfg.repeat` times on `db`; its rows."""
    n, groups, rate = sizes(cfg)
    lags: list[float] = []
    maxes: list[float] = []
    calls: list[float] = []
    refused: list[float] = []
    for _ in range(cfg.repeat):
        start = datetime.now(UTC) + timedelta(seconds=3 + n / 2000)
        expiries = [start + timedelta(seconds=i / rate) for i in range(n)]
        result = await run_expiries(db, expiries, groups, cfg.latency, timeout=BLOCK_S + 60)
        lags += result.lags_ms
        maxes.append(max(result.lags_ms))
        calls.append(result.calls)
        refused.append(result.refused_429)
    what = f"{n} grants, {groups} groups, {rate:.0f}/s"
    return [
        Row(NAME, f"revocation lag ({what})", db, lags, "ms", "p99 < 1000 ms", "1 GET+PUT per expiry"),
        Row(NAME, "revocation lag, max of a run", db, maxes, "ms"),
        Row(NAME, "Cloudflare calls", db, calls, "", "", f"{2 * n} (+{n} revoke_user if sessions)"),
        Row(NAME, "429s received", db, refused, "", "0"),
    ]
