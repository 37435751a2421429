"""Benchmark: how fast Slack gets its ack, accessbot's early ack side by side with bolt's own ack path.

Run: `.venv/bin/python benchmarks/ack_latency.py [N]`. Both variants run the same real stack (simulators on
loopback, SQLite) and the same signed requests; the figures are per request, as Slack would time them.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

from bot.simulators.stack import sqlite_url, start_stack


async def measure(early_ack: bool, n: int) -> list[float]:
    """Milliseconds to the HTTP answer for n `/access` commands and n clicks."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = await start_stack(database_url=sqlite_url(Path(tmp)), early_ack=early_ack)
        try:
            times = []
            for i in range(n):
                resp = await stack.driver.slash("U0ALICE", "help" if i % 2 else "roles")
                times.append(resp.elapsed * 1000)
            await stack.idle(30)
            return times
        finally:
            await stack.stop()


def summary(times: list[float]) -> str:
    """p50 / p95 / max in milliseconds."""
    q = statistics.quantiles(times, n=20)
    return f"p50 {statistics.median(times):6.2f} ms   p95 {q[18]:6.2f} ms   max {max(times):6.2f} ms"


async def main(n: int) -> None:
    """Run both variants, interleaved twice to even out machine noise, and print the ratio."""
    early, bolt = [], []
    for _ in range(2):
        early += await measure(True, n)
        bolt += await measure(False, n)
    print(f"early ack (accessbot):  {summary(early)}")
    print(f"bolt's own ack path:    {summary(bolt)}")
    print(f"ratio of medians (bolt / early): {statistics.median(bolt) / statistics.median(early):.1f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
