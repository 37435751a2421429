"""Slack effects are keyed by conversation (SQLite and PostgreSQL): a rate-limited DM holds back only itself,
a request's notices look only at that request's key, and rows owed before the upgrade (on the one shared
"slack" key) are still carried out (tests/scenario/test_conversation_order.py: the order kept in Slack)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.effects import NotifyUser, RefreshApprovalMessage, request_key
from bot.domain.errors import TransientError
from bot.services import requests
from bot.slack.notifier import SlackMessenger
from bot.slack.render import slack_text
from bot.storage.repos.outbox import SqlOutbox
from tests.core_harness import make_core

ALICE, BOB = "U0ALICE", "U0BOB"


@pytest.fixture
async def core(database_url):  # noqa: ANN001, ANN201
    c = await make_core(database_url)
    yield c
    await c.deps.store.engine.dispose()


async def test_a_429_on_one_persons_dm_does_not_delay_another_persons_notice(core) -> None:  # noqa: ANN001
    def alice_rate_limited(effect: Any) -> None:
        if effect.user == ALICE:
            raise TransientError("Slack: ratelimited", status=429, retry_after=30)

    core.messenger.fail = alice_rate_limited
    async with core.deps.store.tx() as tx:
        await tx.outbox.owe(NotifyUser(ALICE, "approved", grant_id="g-1"))
        await tx.outbox.owe(NotifyUser(ALICE, "expired", grant_id="g-1"))
        await tx.outbox.owe(NotifyUser(BOB, "approved", grant_id="g-2"))
    await core.settle()
    assert core.messenger.sent == [NotifyUser(BOB, "approved", grant_id="g-2")]
    assert [e.event for _, e in core.messenger.calls if e.user == ALICE] == ["approved"]  # her next one waits

    core.messenger.fail = None
    core.clock.advance(timedelta(seconds=29))
    await core.settle()
    assert len(core.messenger.sent) == 1, "Alice's DMs were sent before Slack's Retry-After"
    core.clock.advance(timedelta(seconds=2))
    await core.settle()
    assert [e.event for e in core.messenger.sent if e.user == ALICE] == ["approved", "expired"]


async def test_a_refresh_waits_for_its_requests_approval_post_reading_only_that_requests_key(
        core, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    out = await requests.submit(core.deps, ALICE, "prod-db", timedelta(hours=1), "deploy")
    assert out.ok, slack_text(out)
    rid = out.data["request_id"]
    async with core.deps.store.tx() as tx:
        for i in range(50):  # other conversations' backlog: never read by this request's notices
            await tx.outbox.owe(NotifyUser(f"U0OTHER{i:02d}", "approved"))
    read: list[str] = []
    original = SqlOutbox.pending_effects_for_key

    async def spy(self: SqlOutbox, key: str) -> list[Any]:
        read.append(key)
        return await original(self, key)

    monkeypatch.setattr(SqlOutbox, "pending_effects_for_key", spy)
    messenger = SlackMessenger(core.deps, client=None, directory=None)  # type: ignore[arg-type]
    with pytest.raises(TransientError, match="not posted yet"):
        await messenger.refresh_approval(RefreshApprovalMessage(rid))
    assert read == [request_key(rid)]


async def test_notices_owed_on_the_old_shared_slack_key_are_still_carried_out(core) -> None:  # noqa: ANN001
    async with core.deps.store.tx() as tx:
        await tx.outbox.enqueue("notify.user", {"user": ALICE, "event": "approved", "grant_id": "g-1"}, key="slack")
        await tx.outbox.enqueue("home.refresh", {"users": [ALICE], "approvers_of": None}, key="slack")
    await core.settle()
    assert core.owed("notify.user") == [{"user": ALICE, "event": "approved", "grant_id": "g-1"}]
    assert core.owed("home.refresh") == [{"users": [ALICE], "approvers_of": None}]


async def test_a_row_no_code_can_read_is_marked_dead_and_holds_back_nothing_after_it(core) -> None:  # noqa: ANN001
    async with core.deps.store.tx() as tx:
        await tx.outbox.enqueue("slack.shout", {"text": "hi"}, key="slack")
        await tx.outbox.enqueue("notify.user", {"event": "approved"}, key="slack")  # no user: unreadable
        await tx.outbox.enqueue("notify.user", {"user": ALICE, "event": "approved"}, key="slack")
    await core.settle()
    assert core.owed("notify.user") == [{"user": ALICE, "event": "approved"}]
    async with core.deps.store.tx() as tx:
        counts = await tx.outbox.effect_counts()
    assert counts.get("dead") == 2 and counts.get("pending", 0) == 0
