"""Scenario 1: grants expiring steadily at R per second over G groups; revocation lag, Cloudflare calls, 429s.

The bot spends at most ACCESSBOT_CF_BUDGET calls (default 1,100) in any 5 minutes: a burst of 50, then
(1,100 - 50) / 300 = 3.5 calls a second. With every group changing all the time, each group's GET+PUT comes
round every 2 x G / 3.5 s (5.7 s at 10 groups): that is the bound on the worst revocation lag once the burst
is spent, and everything falling due on a group meanwhile rides on its next write.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.config import Config
from benchmarks.expiry_run import run_expiries
from benchmarks.table import Row
from bot.domain.budget import BudgetPolicy

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
    budget = BudgetPolicy()
    bound_ms = 2 * groups / budget.rate * 1000
    return [
        Row(NAME, f"revocation lag ({what})", db, lags, "ms", f"< {bound_ms:.0f} ms (2G/rate)", "1 GET+PUT per expiry"),
        Row(NAME, "revocation lag, max of a run", db, maxes, "ms", f"~ {bound_ms:.0f} ms"),
        Row(NAME, "Cloudflare calls (the run < 5 min)", db, calls, "", f"<= {budget.calls} (budget)",
            f"{2 * n} (+{n} revoke_user if sessions)"),
        Row(NAME, "429s received", db, refused, "", "0"),
    ]
