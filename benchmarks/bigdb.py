"""Scenario `bigdb`: with 100,000 grants and 1,000,000 audit events in the database, how fast `serve` answers
`/access list`, App Home, `GET /metrics` and `GET /api/grants` (target: p99 < 50 ms each).

App Home is answered with `views.publish`, which the bot's pacer (bot/slack/pacer.py) holds to Slack's Tier 4
rate, one every 0.6 s once its burst is spent. Its probe sends the opens further apart than that (`HOME_GAP_S`),
so the pacer always has a token and never holds one back: the figure is the bot's own work, from the event to
`views.publish` arriving at the Slack simulator.

The seeded year holds about 275,000 done effects (a tenth quick) older than the retention (30 days), which a
running bot would have pruned hour by hour; `serve` prunes them all at start, for several seconds. The reads
are timed once that start-up prune has logged its count (its time is a row of its own), so they measure the
database a running bot keeps, not that one-off catch-up.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable

import aiohttp

from benchmarks.bigdb_seed import Size, email_of, seed_audit, seed_state, user_of
from benchmarks.config import Config
from benchmarks.harness import Bench, open_bench, policy
from benchmarks.table import Row
from bot.simulators.access_sim import AccessSimulator
from bot.simulators.slack_driver import FORM, SlackDriver
from bot.simulators.stack import SIGNING_SECRET
from bot.slack.pacer import method_limit

NAME = "7 big database reads"
AUD = "aud-accessbot-bench"
ADMIN, ADMIN_EMAIL = "U0HADMIN", "bigadmin@example.com"
TARGET = "p99 < 50 ms"
SAMPLE_USERS = 40
BUDGET_S = 60.0  # at most this long on one figure (an unpaginated answer can take seconds)
# One views.publish token comes back every 1 / rate seconds (0.6 s); opens this far apart (start to start)
# each find the one the previous one took back in the bucket, so none waits for the pacer.
HOME_GAP_S = 1 / method_limit("views.publish").per_second + 0.1
HOME_N, HOME_N_QUICK = 60, 15
Probe = Callable[[int], Awaitable[float]]
PRUNED = re.compile(r"pruned (\d+) done effect")
PRUNE_TIMEOUT_S = 300.0


async def _wait_for(done: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll (every half millisecond) until `done()`; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what} did not arrive within {timeout:.0f} s")
        await asyncio.sleep(0.0005)


async def sample(probe: Probe, n: int, gap: float = 0.0) -> list[float]:
    """Milliseconds of up to n calls of `probe` (after 3 warm-up calls), stopping after BUDGET_S seconds; each
    call starts at least `gap` seconds after the one before it started."""
    times: list[float] = []
    started = last = time.monotonic() - gap
    for i in range(-3, n):
        await asyncio.sleep(max(0.0, last + gap - time.monotonic()))
        last = time.monotonic()
        elapsed = await probe(i)
        if i < 0:
            started = time.monotonic()
            continue
        times.append(elapsed * 1000)
        if time.monotonic() - started > BUDGET_S + gap * n:
            break
    return times


async def startup_prune(bench: Bench, timeout: float = PRUNE_TIMEOUT_S) -> tuple[int, float]:
    """Wait for serve's start-up retention prune to log its count: (effects pruned, seconds waited)."""
    started = time.monotonic()
    while (found := PRUNED.search(bench.serve.log_path.read_text())) is None:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"serve logged no start-up prune within {timeout:.0f} s; log {bench.serve.log_path}")
        await asyncio.sleep(0.05)
    return int(found.group(1)), time.monotonic() - started


class Probes:
    """One timed call of each surface, against a started `serve`."""

    def __init__(self, bench: Bench, http: aiohttp.ClientSession, access: AccessSimulator) -> None:
        self.bench, self.http = bench, http
        self.driver = SlackDriver(bench.serve.url, SIGNING_SECRET, bench.slack)
        self.admin_token = access.token(ADMIN_EMAIL, aud=[AUD], ttl=7200)
        self.person_token = access.token(email_of(7), aud=[AUD], ttl=7200)
        self.list_acks: list[float] = []

    async def access_list(self, i: int) -> float:
        """`/access list` from one of the sample users: seconds until its reply reaches the response_url
        (the ack's own time is kept in `list_acks`)."""
        sim = self.bench.slack
        fields, tag = self.driver._slash_payload(user_of(i % SAMPLE_USERS), "list", "/access", "C0GENERAL")
        seen = len(sim.hook_posts)
        started = time.perf_counter()
        result = await self.driver._send(urllib.parse.urlencode(list(fields.items())).encode(), FORM)
        self.list_acks.append((time.perf_counter() - started) * 1000)
        if result.status != 200:
            raise RuntimeError(f"/access list answered {result.status}: {result.text[:200]}")
        await _wait_for(lambda: any(t == tag for t, _ in sim.hook_posts[seen:]), "the /access list reply")
        return time.perf_counter() - started

    async def app_home(self, i: int) -> float:
        """`app_home_opened` from one of the sample users: seconds until views.publish reaches Slack (its arrival
        at the simulator, before the simulator checks its blocks)."""
        user = user_of(i % SAMPLE_USERS)
        calls = self.bench.slack.calls
        seen = len(calls)
        started = time.perf_counter()
        result = await self.driver.app_home_opened(user, event_id=f"Ev{time.time_ns()}")
        if result.status != 200:
            raise RuntimeError(f"app_home_opened answered {result.status}: {result.text[:200]}")
        def published() -> bool:
            return any(c.method == "views.publish" and c.params.get("user_id") == user for c in calls[seen:])

        await _wait_for(published, "views.publish")
        call = next(c for c in calls[seen:] if c.method == "views.publish" and c.params.get("user_id") == user)
        return call.at - started

    async def get(self, path: str, token: str | None = None) -> tuple[float, dict | None]:
        """GET a path of serve: (seconds until the whole body was read, the JSON body if it is JSON)."""
        headers = {"Cf-Access-Jwt-Assertion": token} if token else {}
        started = time.perf_counter()
        async with self.http.get(self.bench.serve.url + path, headers=headers) as resp:
            body = await resp.read()
            elapsed = time.perf_counter() - started
            if resp.status != 200:
                raise RuntimeError(f"GET {path} answered {resp.status}: {body[:200]!r}")
            return elapsed, (await resp.json() if resp.content_type == "application/json" else None)

    async def later_cursor(self, pages: int) -> str | None:
        """The cursor of the admin's `pages`-th page of /api/grants (None when the API does not paginate)."""
        cursor = None
        for _ in range(pages):
            _, body = await self.get("/api/grants" + (f"?cursor={cursor}" if cursor else ""), self.admin_token)
            cursor = (body or {}).get("next_cursor")
            if not cursor:
                return None
        return cursor


async def measure(probes: Probes, n: int, db: str, home_n: int) -> list[Row]:
    """Every surface n times (App Home `home_n` times, HOME_GAP_S apart); its rows."""
    rows = [Row(NAME, "/access list reply", db, await sample(probes.access_list, n), "ms", TARGET)]
    rows.insert(0, Row(NAME, "/access list ack", db, probes.list_acks[3:], "ms", TARGET))
    rows.append(Row(NAME, f"App Home open -> views.publish, {HOME_GAP_S:.1f} s apart (no pacer wait)", db,
                    await sample(probes.app_home, home_n, HOME_GAP_S), "ms", TARGET))

    async def metrics(_: int) -> float:
        return (await probes.get("/metrics"))[0]

    async def first_page(_: int) -> float:
        return (await probes.get("/api/grants", probes.admin_token))[0]

    async def own(_: int) -> float:
        return (await probes.get("/api/grants", probes.person_token))[0]

    rows.append(Row(NAME, "GET /metrics", db, await sample(metrics, n), "ms", TARGET))
    rows.append(Row(NAME, "GET /api/grants first page (admin)", db, await sample(first_page, n), "ms", TARGET))
    cursor = await probes.later_cursor(50)
    if cursor is not None:
        async def later(_: int) -> float:
            return (await probes.get(f"/api/grants?cursor={cursor}", probes.admin_token))[0]
        rows.append(Row(NAME, "GET /api/grants page 51 (admin)", db, await sample(later, n), "ms", TARGET))
    rows.append(Row(NAME, "GET /api/grants (a person's own)", db, await sample(own, n), "ms", TARGET))
    return rows


async def run(db: str, cfg: Config) -> list[Row]:
    """Seed a big database, start serve on it and time each read surface; the rows."""
    size = Size.quick() if cfg.quick else Size()
    access = AccessSimulator(aud=AUD)
    team = await access.start()
    bench = await open_bench(db, size.roles, cfg.latency, {"CF_ACCESS_TEAM_DOMAIN": team, "CF_ACCESS_AUD": AUD})
    try:
        (bench.workdir / "policy.yaml").write_text(policy(size.roles) + f"admins: [{ADMIN}]\n")
        bench.slack.add_user(ADMIN, email=ADMIN_EMAIL)
        for u in range(max(SAMPLE_USERS, 8)):
            bench.slack.add_user(user_of(u), email=email_of(u))
        started = time.monotonic()
        await seed_state(bench.store, size)
        seeded = time.monotonic() - started
        audit_s = await seed_audit(bench.store, size.audit)
        start_s = await bench.start_serve()
        pruned, prune_s = await startup_prune(bench)
        async with aiohttp.ClientSession() as http:
            probes = Probes(bench, http, access)
            try:
                rows = await measure(probes, (30 if cfg.quick else 200) * cfg.repeat, db,
                                     (HOME_N_QUICK if cfg.quick else HOME_N) * cfg.repeat)
            finally:
                await probes.driver.close()
        return ([Row(NAME, f"seed {size.grants:,} grants + history", db, [seeded], "s"),
                 Row(NAME, f"seed {size.audit:,} audit events (copy)", db, [audit_s], "s"),
                 Row(NAME, "start-up to /healthz 200", db, [start_s], "s"),
                 Row(NAME, f"then until the start-up prune of {pruned:,} old done effects ends", db, [prune_s], "s")]
                 + rows)
    finally:
        await bench.close()
        await access.stop()
