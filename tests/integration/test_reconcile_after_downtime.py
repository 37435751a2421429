"""Grants that ended while the bot was down: `accessbot reconcile [--fix]` and the group sync never give the
access back, and take away what no grant still in its time needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.model import GrantState, VoteChoice
from bot.services import approval, grants, requests
from bot.services.group_sync import sync_group
from bot.simulators.cloudflare_sim import CloudflareSimulator
from tests.core_harness import ACCOUNT, GROUP, GROUP2, Core, make_core
from tests.integration.test_cli import (
    CF_TOKEN,
    all_grants,
    approved_grant,
    arun_cli,
    audit_rows,
    cli_core,
    core_env,
    show,
)

DOMAIN_RULE = {"email_domain": {"domain": "sre.example.com"}}


def rule(email: str) -> dict:
    return {"email": {"email": email}}


@pytest.fixture
async def earlier(database_url: str, workdir: Path) -> AsyncIterator[Core]:
    """The core with its clock three hours behind real time: grants made now end before the CLI's now."""
    c = await cli_core(database_url, workdir, behind=timedelta(hours=3))
    yield c
    await c.deps.store.engine.dispose()


async def test_reconcile_lists_and_fix_removes_grants_that_ended_while_the_bot_was_down_and_never_readds_them(
        earlier: Core, workdir: Path) -> None:
    core = earlier
    # Three hours ago: alice and bob got 1h grants; appr03, admin1 and appr02 got 4h grants.
    alice = await approved_grant(core, "U0ALICE", "prod-db", timedelta(hours=1), "incident 1")
    bob = await approved_grant(core, "U0BOB", "prod-db", timedelta(hours=1), "incident 2")
    revoked = await approved_grant(core, "U0APPR03", "prod-db", timedelta(hours=4), "incident 3")
    failed = await approved_grant(core, "U0ADMIN1", "prod-db", timedelta(hours=4), "incident 4")
    running = await approved_grant(core, "U0APPR02", "prod-db", timedelta(hours=4), "incident 5")
    # Then the bot went down: nothing swept alice's and bob's ends, an operator revoked appr03's grant
    # (`accessbot revoke` only marks it), and admin1's removal failed for good, its email left behind.
    assert (await grants.revoke(core.deps, "cli", revoked, via="cli")).ok
    async with core.deps.store.tx() as tx:
        assert await tx.grants.move(failed, (GrantState.ACTIVE,), GrantState.FAILED, failure="403 for good")
    states = {gid: g.state for gid, g in (await all_grants(core)).items()}
    assert states == {alice: GrantState.ACTIVE, bob: GrantState.ACTIVE, revoked: GrantState.REVOKING,
                      failed: GrantState.FAILED, running: GrantState.ACTIVE}
    # Cloudflare now: alice's email still there, bob's removed by hand, the others still there.
    sim = CloudflareSimulator(token=CF_TOKEN)
    await sim.start()
    try:
        sim.add_group(ACCOUNT, GROUP, name="prod-db", include=[
            DOMAIN_RULE, rule("alice@example.com"), rule("appr03@example.com"), rule("admin1@example.com"),
            rule("appr02@example.com")])
        sim.add_group(ACCOUNT, GROUP2, name="shared")
        env = core_env(core, workdir, CLOUDFLARE_API_URL=sim.base_url, CLOUDFLARE_API_TOKEN=CF_TOKEN)

        report = await arun_cli(workdir, "reconcile", env=env)
        assert report.returncode == 1, show(report)
        missing_line = next(line for line in report.stdout.splitlines() if "missing at Cloudflare" in line)
        stale_line = next(line for line in report.stdout.splitlines() if "still present" in line)
        assert "bob@example.com" not in report.stdout, show(report)  # ended: not missing, whatever the state says
        assert missing_line.rstrip().endswith("none"), show(report)
        for ended in ("alice@example.com", "appr03@example.com", "admin1@example.com"):
            assert ended in stale_line, (ended, show(report))
        assert "appr02@example.com" not in stale_line and "appr02@example.com" not in missing_line
        [drift] = [r for r in await audit_rows(core)
                   if r["action"] == "drift.detected" and r["details"]["group_id"] == GROUP]
        assert drift["details"]["missing"] == []
        assert drift["details"]["stale"] == ["admin1@example.com", "alice@example.com", "appr03@example.com"]

        fixed = await arun_cli(workdir, "reconcile", "--fix", env=env)
        assert fixed.returncode == 0, show(fixed)
        assert sim.group(ACCOUNT, GROUP)["include"] == [DOMAIN_RULE, rule("appr02@example.com")]
        async with core.deps.store.tx() as tx:
            assert await tx.members.emails(ACCOUNT, GROUP) == {"appr02@example.com", "bob@example.com"}

        again = await arun_cli(workdir, "reconcile", "--fix", env=env)
        assert again.returncode == 0, show(again)
        assert sim.group(ACCOUNT, GROUP)["include"] == [DOMAIN_RULE, rule("appr02@example.com")]
        assert sim.count("PUT") == 1
    finally:
        await sim.stop()


async def test_a_group_sync_after_downtime_removes_an_email_whose_grant_ended_unswept_and_adds_the_new_one(
        database_url: str) -> None:
    core = await make_core(database_url)
    try:
        alice = await approved_grant(core, "U0ALICE", "prod-db", timedelta(hours=1), "incident 1")
        assert "alice@example.com" in core.groups.emails(ACCOUNT, GROUP)
        core.clock.advance(timedelta(hours=2))  # down: alice's end passed, nothing swept it
        # Back up: bob is approved; the first thing that runs is the group's sync, before any expiry timer.
        out = await requests.submit(core.deps, "U0BOB", "prod-db", timedelta(hours=1), "incident 2")
        assert (await approval.vote(core.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)).ok
        await sync_group(core.deps, ACCOUNT, GROUP, [])
        assert core.groups.emails(ACCOUNT, GROUP) == ["bob@example.com"]
        assert (await all_grants(core))[alice].state is GrantState.REVOKED  # the write that removed her ended it
        await core.settle()  # the expiry timer finds nothing left to end
        assert core.groups.emails(ACCOUNT, GROUP) == ["bob@example.com"]
        [revoked] = [r for r in await audit_rows(core) if r["action"] == "grant.revoked"]
        assert revoked["details"]["email_left_group"] is True
        assert ("REVOKE_USER", "alice@example.com") in core.groups.calls  # revoke_sessions still happens
    finally:
        await core.deps.store.engine.dispose()
