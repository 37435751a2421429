"""Scenario 3: ack latency over HTTP at several concurrencies, the bot beside a bare bolt app.

The load alternates `/access roles` and an Approve click on a request already denied (seeded in the database):
the command's work renders the roles and posts them to its response_url; the click's work reads the request,
audits the refused vote and tells the clicker on its response_url. The bare apps only ack both.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime, timedelta

import aiohttp

from benchmarks.config import Config
from benchmarks.harness import Bench, open_bench
from benchmarks.table import Row, p99
from bot.domain.model import AccessRequest, RequestState
from bot.simulators.slack_driver import FORM, SlackDriver
from bot.simulators.slack_sim import SlackSimulator
from bot.simulators.stack import SIGNING_SECRET
from bot.slack.blocks import APPROVE

NAME = "3 ack roles+click"
USER = "U0BENCHACK"
APPROVER = "U0BENCHAPP"
DECIDED = "r-BACKDENYD"


def plan(cfg: Config) -> list[tuple[int, int]]:
    """(concurrency, requests) pairs."""
    return [(1, 40), (50, 200), (200, 400)] if cfg.quick else [(1, 300), (50, 2000), (200, 4000)]


def _bodies(driver: SlackDriver, n: int) -> list[bytes]:
    """n signed-to-be request bodies: `/access roles` and Approve clicks on the denied request, alternating."""
    message = {"channel": "C0GENERAL", "ts": "1700000000.000100", "blocks": [
        {"type": "actions", "block_id": "vote", "elements": [
            {"type": "button", "action_id": APPROVE, "text": {"type": "plain_text", "text": "Approve"},
             "value": DECIDED}]}]}
    bodies = []
    for i in range(n):
        if i % 2:
            payload = driver._click_payload(APPROVER, message, APPROVE)  # noqa: SLF001
            bodies.append(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode())
        else:
            fields = driver._slash_payload(USER, "roles", "/access", "C0GENERAL")[0]  # noqa: SLF001
            bodies.append(urllib.parse.urlencode(list(fields.items())).encode())
    return bodies


async def load(url: str, sim: SlackSimulator, concurrency: int, n: int) -> tuple[list[float], float, int]:
    """Send n signed requests (`_bodies`), `concurrency` at a time: (ms each, requests/s, non-200 answers)."""
    driver = SlackDriver(url, SIGNING_SECRET, sim)
    bodies = _bodies(driver, n)
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


async def _seed(bench: Bench) -> None:
    """The people and the request already denied that the clicks approve."""
    bench.slack.add_user(USER, email="ackbench@example.com")
    bench.slack.add_user(APPROVER, email="ackapprover@example.com")
    now = datetime.now(UTC)
    async with bench.store.tx() as tx:
        await tx.requests.add(AccessRequest(DECIDED, "bench-0", USER, "ackbench@example.com", timedelta(hours=1),
                                            "", now, now + timedelta(hours=1)))
        await tx.requests.move(DECIDED, RequestState.PENDING, RequestState.DENIED, decided_by=APPROVER,
                               decided_at=now)


async def settle(sim: SlackSimulator, quiet: float = 0.3, limit: float = 120.0) -> float:
    """Wait until no reply has reached the Slack simulator for `quiet` s (the bot's work after its acks is done,
    so it does not run while the next app is measured); seconds from the call to the last reply."""
    started = last_change = time.perf_counter()
    count = len(sim._messages)  # noqa: SLF001 - a count, without copying every message
    while time.perf_counter() - last_change < quiet and time.perf_counter() - started < limit:
        await asyncio.sleep(0.05)
        if len(sim._messages) != count:  # noqa: SLF001
            count, last_change = len(sim._messages), time.perf_counter()  # noqa: SLF001
    return last_change - started


async def busy_answers(url: str) -> float:
    """How many requests serve has answered "busy" so far (its /metrics)."""
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as resp:
        text = await resp.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("accessbot_slack_busy_total{"))


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
    await _seed(bench)
    bares: list[subprocess.Popen] = []
    rows: list[Row] = []
    try:
        await bench.start_serve()
        await asyncio.sleep(2)
        idle_mb = bench.memory_kb("VmRSS") / 1024
        targets = [("accessbot", bench.serve.url)]
        for label, pbr in (("bare bolt", False), ("bare bolt pbr", True)):
            proc, url = start_bare(bench.slack.base_url or "", pbr)
            bares.append(proc)
            targets.append((label, url))
        for concurrency, n in plan(cfg):
            results = {}
            busy_before = await busy_answers(bench.serve.url)
            drained: list[float] = []
            for label, url in targets:
                await load(url, bench.slack, 1, 10)  # warm-up
                await settle(bench.slack)
                times, rate, bad = [], [], 0
                for _ in range(cfg.repeat):
                    t, r, b = await load(url, bench.slack, concurrency, n)
                    times, rate, bad = times + t, rate + [r], bad + b
                    drained.append(await settle(bench.slack) if label == "accessbot" else 0.0)
                results[label] = (times, rate, bad)
            rows += _rows(db, concurrency, results)
            rows.append(Row(NAME, f"replies all posted, after the last ack c={concurrency}", db,
                            [d for d in drained if d], "s"))
            rows.append(Row(NAME, f"busy answers c={concurrency}", db,
                            [await busy_answers(bench.serve.url) - busy_before], "", "past 300 in flight"))
        await asyncio.sleep(2)
        rows.append(Row(NAME, "serve RSS idle before the load", db, [idle_mb], "MB", "< 120 MB"))
        rows.append(Row(NAME, "serve RSS 2 s after the load", db, [bench.memory_kb("VmRSS") / 1024], "MB",
                        "near idle (< 120 MB)"))
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

