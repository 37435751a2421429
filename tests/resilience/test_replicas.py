"""Two real `serve` processes on one PostgreSQL database share the work and do each thing once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from bot.domain.audit import first_broken
from bot.domain.model import GrantState
from bot.simulators.slack_driver import SlackDriver
from bot.simulators.stack import ACCOUNT, SIGNING_SECRET
from tests.policies import policy_text, role
from tests.procs import ServeProcess
from tests.resilience.live import (
    FOREIGN,
    bot_emails,
    foreign,
    group_puts,
    open_store,
    serve_env,
    simulators,
    wait_until,
)

GROUPS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
          "33333333-3333-4333-8333-333333333333"]
USERS = {f"U0USER{i:02d}": f"user{i:02d}@example.com" for i in range(18)}


def _policy() -> str:
    return policy_text({f"team-{i}": role(gid, auto_approve=True) for i, gid in enumerate(GROUPS)},
                       defaults={"min_duration": "1s", "default_duration": "5s", "warn_before": "2s",
                                 "require_reason": False}, admins=["U0USER00"])


async def test_two_serve_processes_on_one_database_do_each_thing_once(pg_database_url: str, tmp_path: Path) -> None:
    slack, cf = await simulators(USERS, GROUPS)
    policy = tmp_path / "policy.yml"
    policy.write_text(_policy())
    env = serve_env(pg_database_url, slack.base_url, cf.base_url, policy)
    replicas = [ServeProcess(env, tmp_path, "a"), ServeProcess(env, tmp_path, "b")]
    urls = await asyncio.gather(*(asyncio.to_thread(r.start) for r in replicas))
    drivers = [SlackDriver(u, SIGNING_SECRET, slack) for u in urls]
    store = await open_store(pg_database_url)
    try:
        # 18 people ask at once, alternating replicas; three groups take six new members each.
        await asyncio.gather(*(drivers[i % 2].slash(uid, f"request team-{i % 3} 5s")
                               for i, uid in enumerate(USERS)))

        async def all_ended() -> bool:
            async with store.tx() as tx:
                found = await tx.grants.find()
            return len(found) == len(USERS) and all(g.state is GrantState.REVOKED for g in found)

        await wait_until(all_ended, 45, "every grant applied, warned and revoked")
        async with store.tx() as tx:
            grants = await tx.grants.find()
            rows = await tx.audit.rows()
        assert first_broken(rows) is None
        for g in grants:
            mine = [r["action"] for r in rows if r["grant_id"] == g.id]
            assert mine.count("grant.applied") == 1, (g.id, mine)
            assert mine.count("grant.warned") == 1, (g.id, mine)
            assert mine.count("grant.revoked") == 1, (g.id, mine)
        emails = set(USERS.values())
        for gid in GROUPS:
            members = [g for g in grants if g.group_id == gid]
            puts = group_puts(cf, gid)
            assert puts, gid
            for at, body in puts:
                assert foreign(body, emails) == FOREIGN  # no foreign rule changed or reordered
                present = bot_emails(body, emails)
                assert len(present) == len(set(present))  # never a duplicate rule
                # No lost update: an email leaves only after its grant's time is up.
                for g in members:
                    if g.email not in present and g.granted_at and g.granted_at.timestamp() < at - 0.5 \
                            and at < g.expires_at.timestamp() - 0.5:
                        raise AssertionError(f"{g.email} vanished from {gid} while its grant was active")
            assert bot_emails(cf.group(ACCOUNT, gid), emails) == []
        # Each person was told once that access is active.
        for uid in USERS:
            assert len([m for m in slack.dms_to(uid) if "is active" in m["text"]]) == 1, uid
        codes = await asyncio.gather(*(asyncio.to_thread(r.terminate) for r in replicas))
        assert codes == [0, 0]  # SIGTERM: clean exit
    finally:
        for r in replicas:
            r.kill()
        for d in drivers:
            await d.close()
        await store.engine.dispose()
        await slack.stop()
        await cf.stop()


async def test_sigterm_stops_serve_with_exit_0_and_the_database_intact(tmp_path: Path) -> None:
    """A clean stop exits 0; the audit chain verifies afterwards."""
    if True:
        slack, cf = await simulators(USERS, GROUPS[:1])
        policy = tmp_path / "policy.yml"
        policy.write_text(_policy().split("  team-1:")[0])
        db = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        proc = ServeProcess(serve_env(db, slack.base_url, cf.base_url, policy), tmp_path, "s")
        url = await asyncio.to_thread(proc.start)
        driver = SlackDriver(url, SIGNING_SECRET, slack)
        try:
            await driver.slash("U0USER01", "request team-0 1h")
            store = await open_store(db)

            async def active() -> bool:
                async with store.tx() as tx:
                    return [g.state for g in await tx.grants.find()] == [GrantState.ACTIVE]

            await wait_until(active, 15, "the grant to be active")
            await store.engine.dispose()
            assert await asyncio.to_thread(proc.terminate) == 0
            out = subprocess.run([sys.executable, "-m", "bot", "audit", "verify"], cwd=tmp_path,
                                 env={**proc.env, "DATABASE_URL": db}, capture_output=True, text=True)
            assert out.returncode == 0, out.stdout + out.stderr
            assert "stopped" in proc.log_path.read_text()
        finally:
            proc.kill()
            await driver.close()
            await slack.stop()
            await cf.stop()
