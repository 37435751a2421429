"""The outbox is claimed lane by lane (SQLite and PostgreSQL): no Slack backlog holds back Cloudflare work,
removals come first, and a lane with more keys than its limit hides no other lane's keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.effects import Effect
from bot.domain.errors import TransientError
from bot.domain.model import GrantState
from bot.services import requests
from bot.services.approval import owe_group_sync, sync_key
from bot.slack.render import slack_text
from bot.storage.store import KEYS_PER_LANE, LANE_CF_ADD, LANE_CF_REMOVE, LANE_OTHER
from tests.core_harness import ACCOUNT, GROUP, GROUP2, make_core

SLACK_BACKLOG = 3000  # six times the 500-effect window the scheduler once claimed from


async def _owe_slack_backlog(tx: Any, n: int, *, keys: int = 1) -> None:
    for i in range(n):
        kind = ("notify.user", "notify.thread", "approval.refresh", "home.refresh")[i % 4]
        await tx.outbox.enqueue(kind, {"user": "U0ALICE", "event": "approved", "request_id": f"r-{i}", "users": []},
                                key="slack" if keys == 1 else f"slack:C{i % keys:05d}")


@pytest.fixture
async def core(database_url):  # noqa: ANN001, ANN201
    c = await make_core(database_url)
    yield c
    await c.deps.store.engine.dispose()


async def test_a_removal_owed_after_thousands_of_slack_notices_is_the_first_key_claimed(core) -> None:  # noqa: ANN001
    store = core.deps.store
    async with store.tx() as tx:
        await _owe_slack_backlog(tx, SLACK_BACKLOG)
        await owe_group_sync(tx, ACCOUNT, GROUP2)  # an add
        await owe_group_sync(tx, ACCOUNT, GROUP, removal=True)  # owed last of all
    async with store.tx() as tx:
        keys = await tx.outbox.due_keys(core.clock.now())
        assert [r.key for r in await tx.outbox.due_effects(core.clock.now(), limit=500)] == ["slack"] * 500
    assert keys == [(sync_key(ACCOUNT, GROUP), LANE_CF_REMOVE), (sync_key(ACCOUNT, GROUP2), LANE_CF_ADD),
                    ("slack", LANE_OTHER)]


async def test_a_lane_with_more_keys_than_its_limit_hides_no_other_lanes_keys(core) -> None:  # noqa: ANN001
    store = core.deps.store
    async with store.tx() as tx:
        await _owe_slack_backlog(tx, 2 * KEYS_PER_LANE, keys=KEYS_PER_LANE + 100)
        await tx.outbox.enqueue("cf.revoke_sessions",
                                {"account_id": ACCOUNT, "email": "a@example.com", "grant_id": "g"},
                                key=f"cf-sessions:{ACCOUNT}")
        await owe_group_sync(tx, ACCOUNT, GROUP2)
    async with store.tx() as tx:
        keys = [key for key, _ in await tx.outbox.due_keys(core.clock.now())]
    assert keys[:2] == [f"cf-sessions:{ACCOUNT}", sync_key(ACCOUNT, GROUP2)]
    assert len(keys) == 2 + KEYS_PER_LANE  # the Slack lane is cut at its own limit, after the others
    assert keys[2] == "slack:C00000"  # oldest-due key of the lane first


async def test_effects_not_yet_due_are_not_claimed_in_any_lane(core) -> None:  # noqa: ANN001
    store = core.deps.store
    later = core.clock.now() + timedelta(seconds=30)
    async with store.tx() as tx:
        await tx.outbox.enqueue("notify.user", {"user": "U0ALICE"}, key="slack", at=later)
        await tx.outbox.enqueue("cf.sync", {"account_id": ACCOUNT, "group_id": GROUP}, key=sync_key(ACCOUNT, GROUP),
                                at=later)
    async with store.tx() as tx:
        assert await tx.outbox.due_keys(core.clock.now()) == []
        assert [key for key, _ in await tx.outbox.due_keys(later)] == [sync_key(ACCOUNT, GROUP), "slack"]


async def test_with_slack_down_and_a_large_backlog_one_tick_starts_the_revocation(core) -> None:  # noqa: ANN001
    def slack_down(effect: Effect) -> None:
        raise TransientError("Slack answered HTTP 503")

    core.messenger.fail = slack_down
    out = await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    assert out.ok, slack_text(out)
    await core.settle()
    assert "alice@example.com" in core.groups.emails(ACCOUNT, GROUP2)
    async with core.deps.store.tx() as tx:
        await _owe_slack_backlog(tx, SLACK_BACKLOG)
    core.clock.advance(timedelta(hours=1))

    await core.scheduler.tick()  # one tick only: it must start the group's worker, not only Slack's
    cf_tasks = [t for t in core.scheduler._tasks if not t.done()]  # noqa: SLF001
    assert sync_key(ACCOUNT, GROUP2) in core.scheduler._running_keys  # noqa: SLF001
    await core.scheduler.stop()  # the Slack worker gives up its pass; the group's sync finishes
    await core.scheduler.drain()
    assert cf_tasks
    assert "alice@example.com" not in core.groups.emails(ACCOUNT, GROUP2)
    async with core.deps.store.tx() as tx:
        [grant] = await tx.grants.find()
    assert grant.state is GrantState.REVOKED


async def test_upgrading_puts_pending_cloudflare_work_in_the_removal_lane_and_the_rest_last(
        database_url: str) -> None:
    from sqlalchemy import text

    from bot.storage.engine import make_engine
    from bot.storage.migrate import upgrade

    engine = make_engine(database_url)
    await upgrade(engine, "0002")
    async with engine.begin() as conn:
        for kind in ("cf.sync", "cf.revoke_sessions", "notify.user"):
            await conn.execute(text(
                "INSERT INTO effects (kind, key, payload, state, attempts, next_at, created_at, alerts) "
                "VALUES (:kind, :kind, '{}', 'pending', 0, '2026-01-01 09:00:00', '2026-01-01 09:00:00', 0)"),
                {"kind": kind})
    await upgrade(engine)
    async with engine.connect() as conn:
        lanes = dict((await conn.execute(text("SELECT kind, lane FROM effects"))).all())
    await engine.dispose()
    assert lanes == {"cf.sync": 0, "cf.revoke_sessions": 0, "notify.user": 3}


async def test_many_groups_due_at_once_are_worked_within_the_connection_pool(core) -> None:  # noqa: ANN001
    """Each worker holds a connection for its lock and needs another for its work: an unbounded number of
    workers took the whole pool on PostgreSQL and waited on it for its 30 s timeout."""
    groups = [f"00000000-0000-4000-8000-{i:012d}" for i in range(30)]
    async with core.deps.store.tx() as tx:
        for group_id in groups:
            core.groups.add(ACCOUNT, group_id)
            await owe_group_sync(tx, ACCOUNT, group_id, removal=True)
        await _owe_slack_backlog(tx, 20, keys=20)
    await asyncio.wait_for(core.settle(), timeout=20)
    async with core.deps.store.tx() as tx:
        assert await tx.outbox.due_keys(core.clock.now()) == []
        assert (await tx.outbox.effect_counts()).get("pending", 0) == 0
    assert sorted(g for m, g in core.groups.calls if m == "GET") == groups


async def test_after_a_429_on_one_notice_the_rest_of_its_lane_waits_for_retry_after(core) -> None:  # noqa: ANN001
    attempts: list[str] = []

    def rate_limited_once(effect: Any) -> None:
        attempts.append(effect.request_id)
        if len(attempts) == 1:
            raise TransientError("Slack: ratelimited", status=429, retry_after=5)

    core.messenger.fail = rate_limited_once
    async with core.deps.store.tx() as tx:
        await _owe_slack_backlog(tx, 3)
    await core.settle()
    assert attempts == ["r-0"], "the next notices were sent right after Slack's 429"
    core.clock.advance(timedelta(seconds=4))
    await core.settle()
    assert attempts == ["r-0"]
    core.clock.advance(timedelta(seconds=1.5))
    await core.settle()
    assert sorted(attempts) == ["r-0", "r-0", "r-1", "r-2"]
    async with core.deps.store.tx() as tx:
        assert (await tx.outbox.effect_counts()).get("pending", 0) == 0


async def test_when_more_groups_are_due_than_workers_a_removal_gets_a_worker_before_older_adds(core) -> None:  # noqa: ANN001
    from bot.scheduler import MAX_WORKERS

    adds = [f"00000000-0000-4000-8000-{i:012d}" for i in range(MAX_WORKERS["cf"] + 2)]
    async with core.deps.store.tx() as tx:
        for group_id in adds:
            core.groups.add(ACCOUNT, group_id)
            await owe_group_sync(tx, ACCOUNT, group_id)
        await owe_group_sync(tx, ACCOUNT, GROUP, removal=True)  # owed last
    await core.scheduler.tick()
    running = set(core.scheduler._running_keys)  # noqa: SLF001
    assert len(running) == MAX_WORKERS["cf"]
    assert sync_key(ACCOUNT, GROUP) in running
    await core.settle()
    assert sorted(g for m, g in core.groups.calls if m == "GET") == sorted([*adds, GROUP])
