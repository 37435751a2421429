"""Benchmark: `/access help` commands at a fixed concurrency, each answered on its response_url.

Run: `.venv/bin/python benchmarks/reply_throughput.py [N] [CONCURRENCY]` (defaults 1000 and 50). The whole stack
runs in this one process (Slack simulator, bot, SQLite), so the CPU figure is the process's CPU time (simulator
and driver included) divided by the replies; the comparison between two versions of the bot is what counts.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from bot.simulators.stack import sqlite_url, start_stack


async def run(n: int, concurrency: int) -> tuple[float, float]:
    """(commands answered per second, CPU milliseconds per reply) for n commands, `concurrency` at a time."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = await start_stack(database_url=sqlite_url(Path(tmp)))
        try:
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with gate:
                    await stack.driver.slash("U0ALICE", "help")

            await asyncio.gather(*(one(i) for i in range(50)))  # warm up
            await stack.idle(30)
            posted = len(stack.slack.hook_posts)
            wall, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(one(i) for i in range(n)))
            while len(stack.slack.hook_posts) < posted + n:
                await asyncio.sleep(0.002)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            return n / wall, cpu * 1000 / n
        finally:
            await stack.stop()


async def main(n: int, concurrency: int) -> None:
    """Three runs, each figure printed."""
    for _ in range(3):
        rate, cpu = await run(n, concurrency)
        print(f"{n} commands at concurrency {concurrency}: {rate:7.1f} replies/s   {cpu:5.2f} ms CPU per reply")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, int(sys.argv[2]) if len(sys.argv) > 2 else 50))
