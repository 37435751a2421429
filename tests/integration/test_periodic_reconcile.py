"""The drift check as the scheduler's periodic job, and `reconcile --fix` writing through the group sync's
ownership protocol (the same write the grants' adds and removals go through)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.domain.errors import TransientError
from bot.services.reconcile import reconcile
from tests.core_harness import ACCOUNT, GROUP, GROUP2, Core, make_core
from tests.integration.test_cli import approved_grant

DOMAIN_RULE = {"email_domain": {"domain": "sre.example.com"}}


def rule(email: str) -> dict:
    return {"email": {"email": email}}


@pytest.fixture
async def core(database_url: str) -> AsyncIterator[Core]:
    """The core with the periodic drift check on, every 30 minutes of its manual clock."""
    c = await make_core(database_url, accessbot_reconcile_interval=timedelta(minutes=30))
    yield c
    await c.deps.store.engine.dispose()


def group_gets(core: Core) -> int:
    return sum(1 for call in core.groups.calls if call[0] == "GET")


async def drift_rows(core: Core) -> list[dict]:
    async with core.deps.store.tx() as tx:
        return await tx.audit.rows(action="drift.detected")


async def test_the_periodic_drift_check_is_a_scheduler_job_that_runs_at_start_and_then_every_interval_of_its_clock(
        core: Core) -> None:
    assert [(j.name, j.interval) for j in core.scheduler.jobs] == [("reconcile", timedelta(minutes=30))]
    await core.settle()
    assert group_gets(core) == 2  # the first turn: both groups of the policy read once
    await core.settle()
    core.clock.advance(timedelta(minutes=29))
    await core.settle()
    assert group_gets(core) == 2  # not due yet by the scheduler's clock
    # Drift appears: alice's email goes missing from Cloudflare behind the bot's back.
    await approved_grant(core, "U0ALICE", "prod-db", timedelta(hours=4), "incident 1")
    gets = group_gets(core)
    core.groups.groups[(ACCOUNT, GROUP)]["include"] = [DOMAIN_RULE]
    assert await drift_rows(core) == []
    core.clock.advance(timedelta(minutes=2))
    await core.settle()
    assert group_gets(core) == gets + 2
    [drift] = await drift_rows(core)
    assert drift["details"]["group_id"] == GROUP and drift["details"]["missing"] == ["alice@example.com"]
    assert drift["details"]["fixed"] is False  # the periodic check only reports
    assert any(p["event"] == "drift" for p in core.owed("notify.admins"))


async def test_no_periodic_job_when_the_interval_is_zero(database_url: str) -> None:
    core = await make_core(database_url)
    try:
        assert core.scheduler.jobs == []
        await core.settle()
        assert group_gets(core) == 0
    finally:
        await core.deps.store.engine.dispose()


async def test_reconcile_fix_adds_and_removes_only_the_bots_rules_and_records_ownership_as_the_group_sync_does(
        core: Core) -> None:
    await approved_grant(core, "U0ALICE", "prod-db", timedelta(hours=4), "incident 1")
    async with core.deps.store.tx() as tx:
        await tx.members.add(ACCOUNT, GROUP, {"gone@example.com"})  # the bot added it once; no grant needs it
    standing = rule("standing@example.com")
    core.groups.groups[(ACCOUNT, GROUP)]["include"] = [standing, DOMAIN_RULE, rule("gone@example.com")]
    [drift, other] = await reconcile(core.deps, core.scheduler.locker, fix=True, actor="cli")
    assert (drift.group_id, other.group_id) == (GROUP, GROUP2)
    assert drift.missing == ["alice@example.com"] and drift.stale == ["gone@example.com"] and drift.fixed
    assert core.groups.groups[(ACCOUNT, GROUP)]["include"] == [standing, DOMAIN_RULE, rule("alice@example.com")]
    async with core.deps.store.tx() as tx:
        assert await tx.members.emails(ACCOUNT, GROUP) == {"alice@example.com"}
    assert not other.drifted and not other.fixed


async def test_a_fix_whose_put_fails_already_owns_the_email_it_was_adding_as_the_group_sync_does(
        core: Core) -> None:
    await approved_grant(core, "U0ALICE", "prod-db", timedelta(hours=4), "incident 1")
    core.groups.groups[(ACCOUNT, GROUP)]["include"] = [DOMAIN_RULE]
    async with core.deps.store.tx() as tx:
        await tx.members.remove(ACCOUNT, GROUP, {"alice@example.com"})
    core.groups.calls.clear()
    real_get = core.groups.get_group

    async def get_then_fail_the_put(account_id: str, group_id: str) -> dict:
        body = await real_get(account_id, group_id)
        core.groups.failures.append(TransientError("503 from Cloudflare"))
        return body

    core.groups.get_group = get_then_fail_the_put  # type: ignore[method-assign]
    [drift, _] = await reconcile(core.deps, core.scheduler.locker, fix=True)
    assert drift.error == "503 from Cloudflare" and not drift.fixed
    assert ("PUT", GROUP) in core.groups.calls
    async with core.deps.store.tx() as tx:
        # recorded before the PUT: had the PUT landed, the bot would still know the rule is its own
        assert await tx.members.emails(ACCOUNT, GROUP) == {"alice@example.com"}
    assert core.groups.groups[(ACCOUNT, GROUP)]["include"] == [DOMAIN_RULE]
