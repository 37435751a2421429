"""Scenario 4: serve's start-up time to `/healthz` 200 and its idle RSS."""

from __future__ import annotations

import asyncio

from benchmarks.config import Config
from benchmarks.harness import open_bench
from benchmarks.table import Row

NAME = "4 footprint"


async def run(db: str, cfg: Config) -> list[Row]:
    """Start serve `max(repeat, 3)` times (once in --quick); start-up seconds and idle RSS after 2 s."""
    startup: list[float] = []
    idle: list[float] = []
    for _ in range(1 if cfg.quick else max(cfg.repeat, 3)):
        bench = await open_bench(db, 10, cfg.latency)
        try:
            startup.append(await bench.start_serve())
            await asyncio.sleep(2)
            idle.append(bench.memory_kb("VmRSS") / 1024)
        finally:
            await bench.close()
    return [Row(NAME, "start-up to /healthz 200", db, startup, "s", "< 2 s"),
            Row(NAME, "idle RSS after start", db, idle, "MB", "< 120 MB")]
