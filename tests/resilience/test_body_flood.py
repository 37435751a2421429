"""A flood of unauthenticated connections sending large bodies and then stalling cannot grow a real `serve`
process by more than a few tens of MB; the stalled connections are cut within a deadline, and a signed
request still gets through while the flood is on."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from bot.domain.model import GrantState
from bot.simulators.slack_driver import SlackDriver
from bot.simulators.stack import SIGNING_SECRET
from bot.web_limits import Limits
from tests.policies import policy_text, role
from tests.procs import ServeProcess
from tests.resilience.live import open_store, serve_env, shut_down, simulators, wait_until

GROUP = "11111111-1111-4111-8111-111111111111"
USERS = {"U0USER01": "user01@example.com"}
CONNECTIONS = 200
MB = 1024 * 1024
GROWTH_LIMIT = 40 * MB
LIMITS = Limits()
CUT_WITHIN = LIMITS.body_seconds + LIMITS.linger_seconds + 8  # seconds, with room for a busy machine

POLICY = policy_text({"team-0": role(GROUP, auto_approve=True)}, admins=["U0USER01"],
                     defaults={"min_duration": "1m", "default_duration": "1h", "require_reason": False})


def _rss(pid: int) -> int:
    """The process's resident set size in bytes (from /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _stalled(port: int, declared: int, sent: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that declares `declared` bytes of body, sends `sent` and then nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 + f"Content-Length: {declared}\r\n\r\n".encode() + b"a" * sent)
    return reader, writer


async def _cut(reader: asyncio.StreamReader, deadline: float) -> bool:
    """True when the server ends the connection (EOF or reset) before `deadline` (monotonic)."""
    try:
        while await asyncio.wait_for(reader.read(65536), max(0.01, deadline - time.monotonic())):
            pass
    except (ConnectionError, OSError):
        return True
    except TimeoutError:
        return False
    return True


async def _flood(proc: ServeProcess, driver: SlackDriver, declared: int, sent: int, user: str) -> tuple[int, float]:
    """Open the stalled connections, send one signed command during the flood; (peak RSS growth, seconds
    until the last stalled connection was cut)."""
    assert proc.proc is not None and proc.port is not None
    pid = proc.proc.pid
    before = _rss(pid)
    started = time.monotonic()
    conns = await asyncio.gather(*(_stalled(proc.port, declared, sent) for _ in range(CONNECTIONS)))
    peak = _rss(pid)
    resp = await driver.slash(user, "request team-0 1h")
    assert resp.status == 200, resp
    assert resp.elapsed < 3, f"the signed request waited {resp.elapsed:.1f}s behind the flood"
    deadline = started + CUT_WITHIN
    watchers = [asyncio.ensure_future(_cut(r, deadline)) for r, _ in conns]
    while not all(w.done() for w in watchers):
        peak = max(peak, _rss(pid))
        await asyncio.sleep(0.1)
    cut_after = time.monotonic() - started
    assert all(w.result() for w in watchers), f"{sum(not w.result() for w in watchers)} connections still open " \
                                               f"after {CUT_WITHIN}s"
    for _, writer in conns:
        with contextlib.suppress(Exception):
            writer.close()
    return peak - before, cut_after


async def test_a_flood_of_stalled_large_bodies_is_bounded_in_memory_and_cut(tmp_path: Path) -> None:
    slack, cf = await simulators(USERS, [GROUP])
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    db = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    proc = ServeProcess(serve_env(db, slack.base_url, cf.base_url, policy), tmp_path, "flood")
    url = await asyncio.to_thread(proc.start)
    driver = SlackDriver(url, SIGNING_SECRET, slack)
    store = await open_store(db)
    try:
        # as reported: 1.9 MB of a declared 2 MB, then silence
        growth, cut_after = await _flood(proc, driver, 2 * MB, 1900 * 1024, "U0USER01")
        assert growth < GROWTH_LIMIT, f"RSS grew {growth / MB:.0f} MB"
        # the worst a caller can do within the route's limit: just under it, then silence
        growth_near, cut_near = await _flood(proc, driver, LIMITS.slack_body - 1024, LIMITS.slack_body - 2048,
                                             "U0USER01")
        assert growth_near < GROWTH_LIMIT, f"RSS grew {growth_near / MB:.0f} MB"
        print(f"RSS growth: {growth / MB:.1f} MB (2 MB bodies, cut after {cut_after:.1f}s), "
              f"{growth_near / MB:.1f} MB (bodies at the limit, cut after {cut_near:.1f}s)")

        async def granted() -> bool:
            async with store.tx() as tx:
                return [g.state for g in await tx.grants.find()] == [GrantState.ACTIVE]

        await wait_until(granted, 15, "the signed request sent during the flood to be granted")
        assert await asyncio.to_thread(proc.terminate) == 0
    finally:
        await shut_down(proc, driver, store, slack, cf)
