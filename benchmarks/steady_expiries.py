"""Scenario 1: grants expiring steadily at R per second over G groups; revocation lag, Cloudflare calls, 429s.

The bot spends at most ACCESSBOT_CF_BUDGET calls (default 1,100) in any 5 minutes: a burst of 50, then
(1,100 - 50) / 300 = 3.5 calls a second. With every group changing all the time, each group's GET+PUT comes
round every 2 x G / 3.5 s (5.7 s at 10 groups): that is the bound on the worst revocation lag once the burst
is spent, and everything falling due on a group meanwhile rides on its next write.

A second variant runs at 1 expiry a second, a rate that leaves room (2 calls a second against 3.5): the
budget never runs short, so every removal goes out at once and the lag is the write itself (target p99 < 1 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from benchmarks.config import Config
from benchmarks.expiry_run import run_expiries
from benchmarks.table import Row
from bot.domain.budget import BudgetPolicy

NAME = "1 steady expiries"
BLOCK_S = 300  # Cloudflare blocks a token 5 minutes once its budget is spent; a run waits that out
ROOMY_TARGET_MS = 1000.0


@dataclass
class Runs:
    """What `cfg.repeat` runs of one variant measured, pooled."""

    lags: list[float]
    maxes: list[float]
    calls: list[float]
    refused: list[float]


def sizes(cfg: Config) -> tuple[int, int, float]:
    """(grants, groups, expiries per second) of the busy variant."""
    return (40, 4, 10.0) if cfg.quick else (600, 10, 10.0)


def roomy_sizes(cfg: Config) -> tuple[int, int, float]:
    """(grants, groups, expiries per second) of the variant whose rate leaves the budget room."""
    return (20, 4, 1.0) if cfg.quick else (120, 10, 1.0)


async def _runs(db: str, cfg: Config, n: int, groups: int, rate: float) -> Runs:
    """`cfg.repeat` runs of n grants on `groups` groups expiring `rate` a second, pooled."""
    runs = Runs([], [], [], [])
    for _ in range(cfg.repeat):
        start = datetime.now(UTC) + timedelta(seconds=3 + n / 2000)
        expiries = [start + timedelta(seconds=i / rate) for i in range(n)]
        result = await run_expiries(db, expiries, groups, cfg.latency, timeout=BLOCK_S + 60)
        runs.lags += result.lags_ms
        runs.maxes.append(max(result.lags_ms))
        runs.calls.append(result.calls)
        runs.refused.append(result.refused_429)
    return runs


async def run(db: str, cfg: Config) -> list[Row]:
    """Run both variants `cfg.repeat` times on `db`; their rows."""
    n, groups, rate = sizes(cfg)
    busy = await _runs(db, cfg, n, groups, rate)
    what = f"{n} grants, {groups} groups, {rate:.0f}/s"
    budget = BudgetPolicy()
    bound_ms = 2 * groups / budget.rate * 1000
    rows = [
        Row(NAME, f"revocation lag ({what})", db, busy.lags, "ms", f"< {bound_ms:.0f} ms (2G/rate)",
            "1 GET+PUT per expiry"),
        Row(NAME, "revocation lag, max of a run", db, busy.maxes, "ms", f"~ {bound_ms:.0f} ms"),
        Row(NAME, "Cloudflare calls (the run < 5 min)", db, busy.calls, "", f"<= {budget.calls} (budget)",
            f"{2 * n} (+{n} revoke_user if sessions)"),
        Row(NAME, "429s received", db, busy.refused, "", "0"),
    ]
    n, groups, rate = roomy_sizes(cfg)
    roomy = await _runs(db, cfg, n, groups, rate)
    return rows + [
        Row(NAME, f"revocation lag at {rate:.0f}/s ({n} grants, {groups} groups)", db, roomy.lags, "ms",
            f"< {ROOMY_TARGET_MS:.0f} ms p99", "1 GET+PUT per expiry"),
        Row(NAME, f"revocation lag at {rate:.0f}/s, max of a run", db, roomy.maxes, "ms"),
        Row(NAME, f"429s received at {rate:.0f}/s", db, roomy.refused, "", "0"),
    ]
