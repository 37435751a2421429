"""Scenario 2: N grants on 10 groups expiring together; time until every email is gone, calls, serve's peak RSS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.config import Config
from benchmarks.expiry_run import run_expiries
from benchmarks.table import Row

NAME = "2 sweep"
GROUPS = 10
TOKEN_BUDGET = 1200
BUDGET_WINDOW_S = 300


def size(cfg: Config) -> int:
    """How many grants expire together."""
    return 200 if cfg.quick else 10_000


def naive_minutes(n: int) -> float:
    """Minutes the naive way (a GET and a PUT per grant) needs under 1,200 calls per 5 minutes."""
    return 2 * n / TOKEN_BUDGET * BUDGET_WINDOW_S / 60


def arithmetic(n: int) -> str:
    """The naive strategy's arithmetic, in words."""
    return (f"naive sweep of {n}: 2 calls x {n} = {2 * n} calls; at {TOKEN_BUDGET} per {BUDGET_WINDOW_S // 60} min "
            f"that is {2 * n} / {TOKEN_BUDGET} x {BUDGET_WINDOW_S // 60} min = {naive_minutes(n):.1f} min")


async def run(db: str, cfg: Config) -> list[Row]:
    """Run the scenario `cfg.repeat` times on `db`; its rows."""
    n = size(cfg)
    gone: list[float] = []
    calls: list[float] = []
    rss: list[float] = []
    lags: list[float] = []
    for _ in range(cfg.repeat):
        at = datetime.now(UTC) + timedelta(seconds=4 + n / 1000)
        result = await run_expiries(db, [at] * n, GROUPS, cfg.latency, timeout=120 + n / 50)
        gone.append(result.all_gone_s)
        calls.append(result.calls)
        rss.append(result.peak_rss_mb)
        lags += result.lags_ms
    return [
        Row(NAME, f"all {n} emails gone after", db, gone, "s", "", f"{naive_minutes(n):.1f} min"),
        Row(NAME, "revocation lag", db, lags, "ms"),
        Row(NAME, "Cloudflare calls", db, calls, "", "<= 40 at 10k", f"{2 * n}"),
        Row(NAME, "serve peak RSS (VmHWM)", db, rss, "MB", "< 250 MB"),
    ]
