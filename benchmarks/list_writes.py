"""Benchmark: Cloudflare calls and bytes for a group role (GET + PUT) against a Zero Trust list role (one PATCH).

Run: `.venv/bin/python benchmarks/list_writes.py [N] [STANDING]`. N people get an auto-approved 3-second grant
at once, on a role whose group (or list) already holds STANDING other entries; when the grants expire together
the bot removes them. Reported for each way: Cloudflare calls and request body bytes for the adds and for
the removals, and the revocation lag after expiry.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.domain.model import GrantState
from bot.simulators.stack import ACCOUNT, sqlite_url, start_stack

GROUP = "00000001-0000-4000-8000-000000000000"
LIST = "00000002-0000-4000-8000-000000000000"


def policy(target: str) -> str:
    """One auto-approved role on `target` (`group_id: …` or `list_id: …`), 3-second grants."""
    return ("defaults:\n  min_duration: 1s\n  default_duration: 3s\n  warn_before: 0\n  require_reason: false\n"
            f"roles:\n  team:\n    {target}\n    account_id: {ACCOUNT}\n    auto_approve: true\n")


def _bytes(calls: list[Any]) -> int:
    """Request body bytes of these calls (as JSON)."""
    return sum(len(json.dumps(c.json)) for c in calls if c.json is not None)


async def run(way: str, n: int, standing: int) -> dict[str, float]:
    """Grant n people at once on a `way` ("group" or "list") role, wait for the expiry; the counts."""
    others = [f"standing{i:04d}@example.com" for i in range(standing)]
    target = f"group_id: {GROUP}" if way == "group" else f"list_id: {LIST}"
    with tempfile.TemporaryDirectory() as tmp:
        stack = await start_stack(policy(target), database_url=sqlite_url(Path(tmp)),
                                  settings_overrides={"accessbot_reconcile_interval": "0"})
        cf = stack.cloudflare
        if way == "group":
            cf.add_group(ACCOUNT, GROUP, include=[{"email": {"email": e}} for e in others])
        else:
            cf.add_list(ACCOUNT, LIST, values=others)
        try:
            users = [f"U0BENCH{i:03d}" for i in range(n)]
            for u in users:
                stack.slack.add_user(u, email=f"{u.lower()}@example.com")
            store = stack.bot.deps.store

            async def states() -> set[GrantState]:
                async with store.tx() as tx:
                    return {x.state for x in await tx.grants.find()}

            await asyncio.gather(*(stack.driver.slash(u, "request team 3s") for u in users))
            while await states() != {GrantState.ACTIVE}:
                await asyncio.sleep(0.05)
            adds = list(cf.calls)
            while await states() != {GrantState.REVOKED}:
                await asyncio.sleep(0.05)
            removals = cf.calls[len(adds):]
            async with store.tx() as tx:
                lags = [(x.revoked_at - x.expires_at).total_seconds() * 1000 for x in await tx.grants.find()]
        finally:
            await stack.stop()
    return {"add calls": len(adds), "add bytes": _bytes(adds), "remove calls": len(removals),
            "remove bytes": _bytes(removals), "lag p50 ms": statistics.median(lags), "lag max ms": max(lags)}


async def main(n: int, standing: int) -> None:
    """Both ways, side by side."""
    started = time.monotonic()
    group = await run("group", n, standing)
    zt_list = await run("list", n, standing)
    print(f"{n} grants at once, {standing} standing entries; both expire together")
    print(f"{'':16}{'group (GET+PUT)':>18}{'list (PATCH)':>16}")
    for key in group:
        print(f"{key:16}{group[key]:>18.0f}{zt_list[key]:>16.0f}")
    print(f"({time.monotonic() - started:.1f} s in all)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20, int(sys.argv[2]) if len(sys.argv) > 2 else 200))
