"""Scenario auditdrain: N grants expire together with an audit channel at `all`; how long until it is current.

Each expiry audits one `grant.revoked`, and the audit channel shows every event. The Slack simulator enforces
Slack's documented limits (`bot.simulators.slack_rates`): chat.postMessage one a second per channel after a
burst of three, 300 a minute in the workspace (shared with the N direct messages the expiries also owe). One
line per event needs N seconds at least; digests (README section 8, "The audit channel") need N / 40.
Figures: the time from the expiry to the last event's line in the channel, the messages the channel got, and
the 429s Slack answered (target 0).

`ACCESSBOT_BENCH_SERVE_SOURCE=/path/to/checkout` runs that checkout's `serve` (the simulators and this
harness stay this checkout's): how the before/after figures in the README were taken.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.config import Config
from benchmarks.harness import Bench, open_paced_bench
from benchmarks.seed import seed_grants, wall_to_mono
from benchmarks.table import Row

NAME = "9 audit drain"
GROUPS = 10
CHANNEL = "C0BAUDIT"
_SEQ = re.compile(r"`#(\d+)`")


def size(cfg: Config) -> int:
    """How many grants expire together."""
    return 100 if cfg.quick else 1000


def _texts(message: dict[str, Any]) -> list[str]:
    """The mrkdwn a message shows: its blocks' section texts, or its text when it has no blocks."""
    if not message.get("blocks"):
        return [message.get("text", "")]
    return [b["text"]["text"] for b in message["blocks"] if b.get("type") == "section" and b.get("text")]


def lines_shown(bench: Bench) -> set[int]:
    """The audit events (by seq) whose line the audit channel shows so far."""
    return {int(seq) for m in bench.slack.messages(CHANNEL) for text in _texts(m) for seq in _SEQ.findall(text)}


async def _caught_up(bench: Bench, n: int) -> bool:
    """Whether the audit log has the N revocations and the channel shows every event in the log."""
    shown = lines_shown(bench)
    if len(shown) < n:
        return False
    async with bench.store.tx() as tx:
        rows = await tx.audit.rows()
    return sum(r["action"] == "grant.revoked" for r in rows) >= n and {r["seq"] for r in rows} <= shown


async def drain_once(db: str, n: int, latency: float) -> tuple[float, int, int]:
    """One run: (seconds from the expiry to the last event's line, messages in the channel, 429s)."""
    bench = await open_paced_bench(db, GROUPS, latency,
                                   policy_extra=f"audit_channel: {CHANNEL}\naudit_channel_events: all\n")
    try:
        at = datetime.now(UTC) + timedelta(seconds=4 + n / 1000)
        await seed_grants(bench, [at] * n, GROUPS)
        await bench.start_serve()
        expiry = wall_to_mono(at)
        deadline = expiry + 3 * n + 120
        while not await _caught_up(bench, n):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(lines_shown(bench))} of {n} lines after {deadline - expiry:.0f} s; "
                                   f"log {bench.serve.log_path}")
            bench.check_serving()
            await asyncio.sleep(0.5)
        took = time.monotonic() - expiry
        return took, len(bench.slack.messages(CHANNEL)), len(bench.slack.rates.limited)
    except BaseException:
        bench.keep = True
        raise
    finally:
        await bench.close()


async def run(db: str, cfg: Config) -> list[Row]:
    """Run the scenario `cfg.repeat` times on `db`; its rows."""
    n = size(cfg)
    took: list[float] = []
    posts: list[float] = []
    limited: list[float] = []
    for _ in range(cfg.repeat):
        seconds, messages, refused = await drain_once(db, n, cfg.latency)
        took.append(seconds)
        posts.append(messages)
        limited.append(refused)
    return [
        Row(NAME, f"audit channel current after ({n} expiries)", db, took, "s", f"one line each: >= {n - 3} s"),
        Row(NAME, "messages in the audit channel", db, posts, "", f"<= {n // 40 + 3}"),
        Row(NAME, "429s from Slack", db, limited, "", "0"),
    ]
