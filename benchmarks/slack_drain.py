"""Scenario slackdrain: N grants expire together; how fast their N direct messages reach Slack, against its limits.

The Slack simulator enforces Slack's documented rate limits (`bot.simulators.slack_rates`: chat.postMessage
300 a minute per workspace, one a second per channel) and answers every call `latency` late (50 ms by
default). Each expired grant owes its requester one DM (a conversation of its own), so the documented
ceiling is the workspace-wide chat.postMessage limit: 5 a second, plus the first burst the simulator allows.
Figures: notices a second, 429s Slack answered (target 0), and the time from the expiry to the last DM.

`ACCESSBOT_BENCH_SERVE_SOURCE=/path/to/checkout` runs that checkout's `serve` (the simulators and this
harness stay this checkout's): how the before/after figures in the README were taken.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from benchmarks.config import Config
from benchmarks.harness import Bench, open_paced_bench
from benchmarks.seed import seed_grants, wall_to_mono
from benchmarks.table import Row
from bot.simulators.slack_rates import PER_MINUTE, SlackRates

NAME = "7 slack drain"
GROUPS = 10
POSTS_PER_SECOND = PER_MINUTE["chat.postMessage"] / 60


def size(cfg: Config) -> int:
    """How many grants expire together."""
    return 200 if cfg.quick else 10_000


def ceiling_s(n: int) -> float:
    """Seconds N DMs to N people need at least under chat.postMessage's workspace-wide limit (after its first
    burst)."""
    burst = POSTS_PER_SECOND * SlackRates().burst_seconds
    return max(0.0, n - burst) / POSTS_PER_SECOND


def _dms(bench: Bench) -> int:
    """DMs Slack accepted so far."""
    return sum(1 for c in bench.slack.calls_to("chat.postMessage")
               if c.response.get("ok") and str(c.params.get("channel", "")).startswith("U0B"))


async def drain_once(db: str, n: int, latency: float) -> tuple[float, float, int]:
    """One run: (seconds from the expiry to the last DM, DMs a second while draining, 429s)."""
    bench = await open_paced_bench(db, GROUPS, latency)
    try:
        at = datetime.now(UTC) + timedelta(seconds=4 + n / 1000)
        await seed_grants(bench, [at] * n, GROUPS)
        await bench.start_serve()
        expiry = wall_to_mono(at)
        deadline = expiry + 3 * ceiling_s(n) + 120
        first = None
        while (done := _dms(bench)) < n:
            if first is None and done:
                first = time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {n} DMs after {deadline - expiry:.0f} s; log {bench.serve.log_path}")
            bench.check_serving()
            await asyncio.sleep(0.1)
        last = time.monotonic()
        rate = n / max(1e-3, last - (first or last))
        return last - expiry, rate, len(bench.slack.rates.limited)
    except BaseException:
        bench.keep = True
        raise
    finally:
        await bench.close()


async def run(db: str, cfg: Config) -> list[Row]:
    """Run the scenario `cfg.repeat` times on `db`; its rows."""
    n = size(cfg)
    drained: list[float] = []
    rates: list[float] = []
    limited: list[float] = []
    for _ in range(cfg.repeat):
        took, rate, refused = await drain_once(db, n, cfg.latency)
        drained.append(took)
        rates.append(rate)
        limited.append(refused)
    return [
        Row(NAME, f"all {n} DMs sent after", db, drained, "s", f"Slack's limit: >= {ceiling_s(n):.0f} s"),
        Row(NAME, "DMs a second while draining", db, rates, "/s", f"<= {POSTS_PER_SECOND:.0f}/s + burst"),
        Row(NAME, "429s from Slack", db, limited, "", "0"),
    ]
