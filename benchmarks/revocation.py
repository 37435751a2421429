"""Benchmark: revocation lag after expiry, and Cloudflare calls per revoked grant (batched vs one by one).

Run: `.venv/bin/python benchmarks/revocation.py [N] [G]`. N people get an auto-approved grant at once, spread
over G groups; when they expire together the bot removes them. Reported: lag from `expires_at` to the
confirmed removal, and Cloudflare group calls per revoked grant (the unbatched cost would be 2 per grant).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.domain.model import GrantState
from bot.simulators.stack import ACCOUNT, sqlite_url, start_stack

GROUP_IDS = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(1, 21)]


def policy(groups: int) -> str:
    """Auto-approved roles, one per group, 3-second grants."""
    roles = "".join(f"  team-{i}:\n    group_id: {GROUP_IDS[i]}\n    account_id: {ACCOUNT}\n    auto_approve: true\n"
                    for i in range(groups))
    return ("defaults:\n  min_duration: 1s\n  default_duration: 3s\n  warn_before: 0\n  require_reason: false\n"
            f"roles:\n{roles}")


async def main(n: int, g: int) -> None:
    """Grant n people at once over g groups, wait for the expiry, report lag and calls."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = await start_stack(policy(g), database_url=sqlite_url(Path(tmp)),
                                  settings_overrides={"accessbot_reconcile_interval": "0"})
        try:
            users = [f"U0BENCH{i:03d}" for i in range(n)]
            for u in users:
                stack.slack.add_user(u, email=f"{u.lower()}@example.com")
            await asyncio.gather(*(stack.driver.slash(u, f"request team-{i % g} 3s") for i, u in enumerate(users)))
            store = stack.bot.deps.store

            async def states() -> set[GrantState]:
                async with store.tx() as tx:
                    return {x.state for x in await tx.grants()}

            while await states() != {GrantState.ACTIVE}:
                await asyncio.sleep(0.05)
            before = len([c for c in stack.cloudflare.calls if "/access/groups/" in c.path])
            t0 = time.monotonic()
            while await states() != {GrantState.REVOKED}:
                await asyncio.sleep(0.05)
            calls = len([c for c in stack.cloudflare.calls if "/access/groups/" in c.path]) - before
            async with store.tx() as tx:
                lags = [(x.revoked_at - x.expires_at).total_seconds() * 1000 for x in await tx.grants()]
            print(f"{n} grants over {g} groups, revoked in {time.monotonic() - t0:.1f}s of waiting")
            print(f"revocation lag after expiry: p50 {statistics.median(lags):.0f} ms, max {max(lags):.0f} ms")
            print(f"Cloudflare group calls for the removals: {calls} ({calls / n:.2f} per grant; "
                  f"unbatched would be {2 * n}, i.e. 2.00 per grant)")
        finally:
            await stack.stop()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args + [60, 3][len(args):])))
