"""Scenario 3: `/access roles` ack latency over HTTP at several concurrencies, the bot beside a bare bolt app."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
import urllib.parse

import aiohttp

from benchmarks.config import Config
from benchmarks.harness import open_bench
from benchmarks.table import Row, p99
from bot.simulators.slack_driver import FORM, SlackDriver
from bot.simulators.slack_sim import SlackSimulator
from bot.simulators.stack import SIGNING_SECRET

NAME = "3 ack /access roles"
USER = "U0BENCHACK"


def plan(cfg: Config) -> list[tuple[int, int]]:
    """(concurrency, requests) pairs."""
    return [(1, 40), (50, 200), (200, 400)] if cfg.quick else [(1, 300), (50, 2000), (200, 4000)]


async def load(url: str, sim: SlackSimulator, concurrency: int, n: int) -> tuple[list[float], float, int]:
    """Send n signed `/access roles` commands, `concurrency` at a time: (ms each, requests/s, non-200 answers)."""
    driver = SlackDriver(url, SIGNING_SECRET, sim)
    bodies = [urllib.parse.urlencode(list(driver._slash_payload(USER, "roles", "/access", "C0GENERAL")[0].items()))
              .encode() for _ in range(n)]
    times: list[float] = []
    bad = 0
    queue = iter(bodies)

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal bad
        for body in queue:
            headers = {"Content-Type": FORM, **driver.sign(body)}
            t0 = time.perf_counter()
            async with http.post(driver.url, data=body, headers=headers) as resp:
                await resp.read()
                bad += resp.status != 200
            times.append((time.perf_counter() - t0) * 1000)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return times, n / wall, bad


def start_bare(slack_url: str, pbr: bool) -> tuple[subprocess.Popen, str]:
    """A bare bolt app process; (the process, its URL)."""
    args = [sys.executable, "-m", "benchmarks.bare_app", slack_url] + (["--process-before-response"] if pbr else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"bare app did not start: {line!r}")
    return proc, "http://" + line.rsplit(" ", 1)[1].strip()


async def run(db: str, cfg: Config) -> list[Row]:
    """The bot and two bare bolt apps, each at every concurrency; their rows."""
    bench = await open_bench(db, 1, cfg.latency)
    bench.slack.add_user(USER, email="ackbench@example.com")
    bares: list[subprocess.Popen] = []
    rows: list[Row] = []
    try:
        await bench.start_serve()
        targets = [("accessbot", bench.serve.url)]
        for label, pbr in (("bare bolt", False), ("bare bolt pbr", True)):
            proc, url = start_bare(bench.slack.base_url or "", pbr)
            bares.append(proc)
            targets.append((label, url))
        for concurrency, n in plan(cfg):
            results = {}
            for label, url in targets:
                await load(url, bench.slack, 1, 10)  # warm-up
                times, rate, bad = [], [], 0
                for _ in range(cfg.repeat):
                    t, r, b = await load(url, bench.slack, concurrency, n)
                    times, rate, bad = times + t, rate + [r], bad + b
                results[label] = (times, rate, bad)
            rows += _rows(db, concurrency, results)
    finally:
        for proc in bares:
            proc.kill()
            proc.wait(10)
        await bench.close()
    return rows


def _rows(db: str, c: int, results: dict[str, tuple[list[float], list[float], int]]) -> list[Row]:
    """Rows for one concurrency: the bot's latency and throughput beside the bare apps'."""
    bot_t, bot_r, bot_bad = results["accessbot"]
    bare = " / ".join(f"{statistics.median(t):.2f} p50, {p99(t):.2f} p99 ms" for t, _, _ in
                      (results["bare bolt"], results["bare bolt pbr"]))
    bare_rate = " / ".join(f"{statistics.median(r):.0f}/s" for _, r, _ in
                           (results["bare bolt"], results["bare bolt pbr"]))
    best_p99 = min(p99(results[k][0]) for k in ("bare bolt", "bare bolt pbr"))
    best_rate = max(statistics.median(results[k][1]) for k in ("bare bolt", "bare bolt pbr"))
    target = {1: "p50 < 2 ms", 50: f"p99 <= {1.5 * best_p99:.1f} ms (1.5x best bare)"}.get(c, "")
    rate_target = f">= {0.7 * best_rate:.0f}/s (0.7x best bare)"
    return [Row(NAME, f"ack latency c={c}", db, bot_t, "ms", target, "bare default / pbr: " + bare),
            Row(NAME, f"requests/s c={c}", db, bot_r, "/s", rate_target, "bare default / pbr: " + bare_rate),
            Row(NAME, f"non-200 answers c={c}", db, [float(bot_bad)], "", "0")]

