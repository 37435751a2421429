"""The benchmark bench: simulators on 127.0.0.1 (Cloudflare with a latency), a database, a real `serve` process."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.bootstrap import open_store
from bot.domain.clock import SystemClock
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.simulators.slack_sim import SlackSimulator
from bot.simulators.stack import ACCOUNT, CF_TOKEN, SLACK_TOKEN
from bot.storage.store import Store
from tests.procs import ServeProcess
from tests.resilience.live import serve_env

GROUP_IDS = [f"{i:08d}-0000-4000-8000-00000000be0c" for i in range(1, 101)]


class SlowCloudflare(CloudflareSimulator):
    """The Cloudflare simulator answering every request `latency` seconds late, like a far-away API."""

    def __init__(self, latency: float, **kwargs: object) -> None:
        """A simulator whose answers take `latency` seconds (Cloudflare's own limits stay on)."""
        super().__init__(token=CF_TOKEN, **kwargs)  # type: ignore[arg-type]
        self.latency = latency

    async def _answer(self, request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse | None:
        """Wait the latency, then answer as the simulator does."""
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        return await super()._answer(request, handler)


def policy(groups: int, extra: str = "") -> str:
    """Auto-approved roles `bench-0`… one per group, short grants, no warnings, no reason needed (and `extra`
    top-level policy lines)."""
    roles = "".join(f"  bench-{i}:\n    group_id: {GROUP_IDS[i]}\n    account_id: {ACCOUNT}\n    auto_approve: true\n"
                    for i in range(groups))
    return ("defaults:\n  min_duration: 1s\n  default_duration: 1h\n  warn_before: 0\n  require_reason: false\n"
            f"{extra}roles:\n{roles}")


@dataclass
class Bench:
    """One run's simulators, database, policy file and serve process (not started until `start_serve`)."""

    db_url: str
    workdir: Path
    slack: SlackSimulator
    cloudflare: SlowCloudflare
    serve: ServeProcess
    store: Store
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    keep: bool = False  # keep the work folder (serve's log) after a failure

    async def start_serve(self) -> float:
        """Start `accessbot serve` and wait for `/healthz` 200; seconds from the spawn to that answer."""
        started = time.monotonic()
        url = await asyncio.to_thread(self.serve.start, 60.0)
        async with aiohttp.ClientSession() as http:
            while time.monotonic() - started < 60:
                try:
                    async with http.get(url + "/healthz") as resp:
                        if resp.status == 200:
                            return time.monotonic() - started
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.01)
        raise TimeoutError("serve did not answer /healthz 200 within 60 s")

    def check_serving(self) -> None:
        """Raise when serve has exited (a run waiting on it would wait for nothing), naming its log."""
        if self.serve.proc is not None and self.serve.proc.poll() is not None:
            raise RuntimeError(f"serve exited with {self.serve.proc.returncode}; log {self.serve.log_path}")

    def memory_kb(self, key: str = "VmHWM") -> int:
        """A line of the serve process's /proc/PID/status in kB (VmHWM: peak RSS; VmRSS: now)."""
        assert self.serve.proc is not None
        for line in Path(f"/proc/{self.serve.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"{key} not in /proc status")

    async def close(self) -> None:
        """Stop serve, the simulators and the database."""
        self.serve.kill()
        await self.store.engine.dispose()
        await self.slack.stop()
        await self.cloudflare.stop()
        for cleanup in reversed(self.cleanups):
            await cleanup()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


async def _admin(pg_url: str, sql: str) -> None:
    """Run one statement on the PostgreSQL server (outside a transaction)."""
    admin = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()


async def open_bench(db: str, groups: int, latency: float, extra_env: dict[str, str] | None = None,
                     policy_extra: str = "") -> Bench:
    """Simulators, a fresh migrated database (`db` is "sqlite" or a PostgreSQL URL) and an unstarted serve
    (`policy_extra`: top-level lines added to the bench policy)."""
    workdir = Path(tempfile.mkdtemp(prefix="accessbot-bench-"))
    cleanups: list[Callable[[], Awaitable[None]]] = []
    if db == "sqlite":
        db_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    else:
        name = "accessbot_bench_" + uuid.uuid4().hex[:10]
        await _admin(db, f'CREATE DATABASE "{name}"')
        db_url = db.rsplit("/", 1)[0] + "/" + name

        async def _drop() -> None:
            await _admin(db, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cleanups.append(_drop)
    store = await open_store(db_url, SystemClock(), migrate=True)
    slack = SlackSimulator(token=SLACK_TOKEN)
    cloudflare = SlowCloudflare(latency)
    slack_url = await slack.start()
    cf_url = await cloudflare.start()
    for gid in GROUP_IDS[:groups]:
        cloudflare.add_group(ACCOUNT, gid, name=f"bench {gid[:8]}")
    policy_path = workdir / "policy.yaml"
    policy_path.write_text(policy(groups, policy_extra))
    env = serve_env(db_url, slack_url, cf_url, policy_path,
                    ACCESSBOT_RECONCILE_INTERVAL="0", LOG_FORMAT="json", **(extra_env or {}))
    serve = ServeProcess(env, workdir)
    return Bench(db_url, workdir, slack, cloudflare, serve, store, cleanups)


async def open_paced_bench(db: str, groups: int, latency: float, policy_extra: str = "") -> Bench:
    """`open_bench` with a Slack simulator that enforces Slack's documented limits and answers `latency` late;
    serve runs from `ACCESSBOT_BENCH_SERVE_SOURCE`'s checkout when it is set (how before/after figures are
    taken: the simulators and this harness stay this checkout's)."""
    source = os.environ.get("ACCESSBOT_BENCH_SERVE_SOURCE")
    bench = await open_bench(db, groups, latency, {"PYTHONPATH": source} if source else None,
                             policy_extra=policy_extra)
    bench.slack.rates.enabled = True
    bench.slack.rates.latency = latency
    return bench
