"""The one effect dispatcher on fakes: each effect type runs on its port, and its row is done only on success."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from bot.domain.effects import (
    REGISTRY,
    AskOnCall,
    BreakGlassReview,
    Effect,
    EscalateRequest,
    NotifyAdmins,
    NotifyApprovers,
    NotifyThread,
    NotifyUser,
    PostApproval,
    PostAuditSummary,
    RefreshApprovalMessage,
    RefreshHome,
    RemindApprovers,
    RevokeSessions,
    SyncGroup,
)
from bot.domain.errors import TransientError
from bot.services import dispatch
from bot.services.dispatch import Dispatcher, NoHandler, effect_of
from tests.fakes import RecordingMessenger


class FakeStore:
    """Just enough of the store for the dispatcher: a transaction that records finished effect rows."""

    def __init__(self) -> None:
        self.finished: list[tuple[list[int], str]] = []

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Any]:
        """A unit of work whose only operation is the outbox's finish_effects."""
        async def finish_effects(ids: list[int], state: str = "done", error: str | None = None) -> None:
            self.finished.append((list(ids), state))
        yield SimpleNamespace(outbox=SimpleNamespace(finish_effects=finish_effects))


def _dispatcher(messenger: RecordingMessenger | None) -> tuple[Dispatcher, FakeStore]:
    store = FakeStore()
    return Dispatcher(SimpleNamespace(store=store), messenger), store  # type: ignore[arg-type]


CHAT: list[tuple[Effect, str]] = [
    (PostApproval("r-1"), "post_approval"),
    (RefreshApprovalMessage("r-1"), "refresh_approval"),
    (NotifyUser("U0AL", "approved", grant_id="g-1"), "notify_user"),
    (NotifyThread("r-1", "granted", grant_id="g-1"), "notify_thread"),
    (NotifyApprovers("r-1", "denied", except_="U0BOB"), "notify_approvers"),
    (NotifyAdmins("drift", summary="x"), "notify_admins"),
    (PostAuditSummary(7), "post_audit_summary"),
    (RefreshHome(("U0AL",), "r-1"), "refresh_home"),
    (RemindApprovers("r-1", 1), "remind_approvers"),
    (EscalateRequest("r-1"), "escalate"),
    (BreakGlassReview("g-1", 0), "break_glass_review"),
    (AskOnCall("r-1"), "ask_oncall"),
]


@pytest.mark.parametrize(("effect", "op"), CHAT, ids=[op for _, op in CHAT])
async def test_each_chat_effect_runs_its_own_messenger_operation_and_its_row_is_then_done(effect: Effect,
                                                                                          op: str) -> None:
    messenger = RecordingMessenger()
    dispatcher, store = _dispatcher(messenger)
    await dispatcher.carry_out(effect, [11])
    assert messenger.calls == [(op, effect)]
    assert store.finished == [([11], "done")]


def test_every_registered_effect_type_has_a_dispatch_case() -> None:
    covered = {type(e) for e, _ in CHAT} | {SyncGroup, RevokeSessions}
    assert covered == set(REGISTRY.values())


async def test_a_messenger_failure_leaves_the_row_pending_and_reaches_the_caller() -> None:
    messenger = RecordingMessenger()

    def slack_down(effect: Effect) -> None:
        raise TransientError("Slack answered HTTP 503")

    messenger.fail = slack_down
    dispatcher, store = _dispatcher(messenger)
    with pytest.raises(TransientError):
        await dispatcher.carry_out(NotifyUser("U0AL", "approved"), [3])
    assert store.finished == []


async def test_a_chat_effect_with_no_messenger_wired_has_no_handler() -> None:
    dispatcher, store = _dispatcher(None)
    with pytest.raises(NoHandler):
        await dispatcher.carry_out(PostApproval("r-1"), [5])
    assert store.finished == []


async def test_a_group_sync_settles_every_claimed_row_of_its_group_through_group_sync(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, ...]] = []

    async def fake_sync(deps: Any, account_id: str, group_id: str, ids: list[int], *, had_alerts: bool) -> None:
        seen.append((account_id, group_id, ids, had_alerts))

    monkeypatch.setattr(dispatch, "sync_group", fake_sync)
    messenger = RecordingMessenger()
    dispatcher, store = _dispatcher(messenger)
    await dispatcher.carry_out(SyncGroup("a1", "g1"), [1, 2, 3], had_alerts=True)
    assert seen == [("a1", "g1", [1, 2, 3], True)]
    assert messenger.calls == [] and store.finished == []  # group_sync marks its own rows


async def test_ending_sessions_goes_to_cloudflare_with_the_grants_email(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, ...]] = []

    async def fake_revoke(deps: Any, account_id: str, email: str, grant_id: str, effect_id: int) -> None:
        seen.append((account_id, email, grant_id, effect_id))

    monkeypatch.setattr(dispatch, "revoke_sessions", fake_revoke)
    dispatcher, _ = _dispatcher(RecordingMessenger())
    await dispatcher.carry_out(RevokeSessions("a1", "al@x.io", "g-1"), [9])
    assert seen == [("a1", "al@x.io", "g-1", 9)]


def test_a_claimed_row_is_decoded_into_its_typed_effect() -> None:
    row = SimpleNamespace(kind="notify.approvers", payload={"request_id": "r-1", "event": "approved", "except": "U"})
    assert effect_of(row) == NotifyApprovers("r-1", "approved", except_="U")
    assert dataclasses.asdict(effect_of(SimpleNamespace(kind="audit.summary", payload={"seq": 3}))) == {"seq": 3}
