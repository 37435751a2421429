"""The adapters' read and record use cases, on the in-memory unit of work."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.model import GrantState, RequestState
from bot.services import conversations, queries, requests
from tests.fakes_uow import FakeUnitOfWork
from tests.unit.services.world import World, make_world

HOUR = timedelta(hours=1)


@pytest.fixture
def world() -> World:
    """A fresh in-memory world."""
    return make_world()


async def test_my_access_lists_held_grants_pending_requests_and_with_waiting_what_i_may_decide(
        world: World) -> None:
    grant = await world.active_grant()
    await requests.submit(world.deps, "U0ALICE", "two-man", HOUR, "keys")
    mine = await queries.my_access(world.deps, "U0ALICE")
    assert [g.id for g in mine.grants] == [grant.id] and [r.role for r in mine.requests] == ["two-man"]
    assert mine.waiting == []
    approver = await queries.my_access(world.deps, "U0APPR01", waiting=True)
    assert [r.role for r in approver.waiting] == ["two-man"]
    assert [r.role for r in await queries.waiting_for(world.deps, "U0APPR01")] == ["two-man"]


async def test_grants_of_filters_by_email_case_insensitively_and_by_state(world: World) -> None:
    grant = await world.active_grant()
    assert [g.id for g in await queries.grants_of(world.deps, email="ALICE@example.com")] == [grant.id]
    assert await queries.grants_of(world.deps, email="alice@example.com", states=(GrantState.REVOKED,)) == []
    assert (await queries.grant(world.deps, grant.id)) == grant
    assert await queries.grant(world.deps, "g-NOPE2345") is None


async def test_request_view_shows_the_grant_an_extension_extends(world: World) -> None:
    grant = await world.active_grant()
    rid = (await requests.submit_extend(world.deps, "U0ALICE", grant.id, HOUR, "more")).data["request_id"]  # type: ignore[index]
    view = await queries.request_view(world.deps, rid)
    assert view.request is not None and view.request.state is RequestState.PENDING
    assert view.grant is not None and view.grant.id == grant.id and view.messages == []
    req, made = await queries.request_and_grants(world.deps, grant.request_id)
    assert req is not None and [g.id for g in made] == [grant.id]
    assert await queries.request_and_grants(world.deps, "r-NOPE2345") == (None, [])


async def test_an_approval_post_is_owed_until_it_is_done_and_then_its_message_is_remembered(world: World) -> None:
    rid = (await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x")).data["request_id"]  # type: ignore[index]
    assert await queries.approval_post_owed(world.deps, rid)
    async with world.store.tx() as tx:
        await tx.outbox.finish_effects([e["id"] for e in world.store.effects("approval.post")])
    assert not await queries.approval_post_owed(world.deps, rid)
    await conversations.approval_posted(world.deps, rid, "C1", "111.222", "U0APPR01")
    [msg] = (await queries.request_view(world.deps, rid)).messages
    assert (msg.channel, msg.ts, msg.approver) == ("C1", "111.222", "U0APPR01")


async def test_a_delivery_key_is_first_only_once_and_home_openers_are_remembered(world: World) -> None:
    assert await conversations.first_delivery(world.deps, "Ev1")
    assert not await conversations.first_delivery(world.deps, "Ev1")
    await conversations.saw_home(world.deps, "U0BOB")
    assert await queries.home_viewers(world.deps, ["U0ALICE", "U0BOB", "U0BOB"]) == ["U0BOB"]


async def test_audit_page_and_audit_event_read_the_log_by_sequence_number(world: World) -> None:
    await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x")
    await requests.submit(world.deps, "U0ALICE", "nope", HOUR, "x")
    page = await queries.audit_page(world.deps, since_seq=1, limit=5)
    assert [r["action"] for r in page] == ["request.refused"]
    event = await queries.audit_event(world.deps, 1)
    assert event is not None and event["action"] == "request.created"
    assert await queries.audit_event(world.deps, 3) is None


async def test_status_counts_grants_and_effects_and_measures_how_long_an_ended_grant_still_holds_access(
        world: World) -> None:
    grant = await world.active_grant()
    before = await queries.status(world.deps)
    assert before.grants == {"active": 1} and before.overdue_seconds == 0.0
    assert before.effects.get("pending", 0) + before.effects.get("done", 0) > 0
    world.clock.advance(grant.expires_at - world.clock.now() + timedelta(seconds=90))
    late = await queries.status(world.deps)
    assert late.overdue_seconds == 90.0, "an active grant 90 s past its end is 90 s overdue"


async def test_status_counts_a_pending_effect_that_failed_once_as_retrying_by_its_kind(world: World) -> None:
    await world.active_grant()
    pending = [e for e in world.store.db.effects if e["state"] == "pending"]
    assert pending, "the grant owes notices"
    pending[0]["attempts"] = 1
    retrying = (await queries.status(world.deps)).retrying
    assert retrying == {pending[0]["kind"]: 1}


async def test_the_database_answers_or_healthz_gets_the_failures_type(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert await queries.database_answers(world.deps) is None

    async def refused(self: FakeUnitOfWork) -> None:
        raise ConnectionRefusedError("down")

    monkeypatch.setattr(FakeUnitOfWork, "ping", refused)
    assert await queries.database_answers(world.deps) == "ConnectionRefusedError"


async def test_waiting_for_reads_only_the_pending_requests_of_roles_the_viewer_could_decide(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    await requests.submit(world.deps, "U0ALICE", "two-man", HOUR, "keys")
    await requests.submit(world.deps, "U0BOB", "self-ok", HOUR, "mine")
    read: list[object] = []
    async with world.store.tx() as tx:
        pending = type(tx.requests).pending

        async def spy(self, roles=None, ids=()):  # noqa: ANN001, ANN202
            read.append(roles)
            return await pending(self, roles, ids)

        monkeypatch.setattr(type(tx.requests), "pending", spy)
    assert [r.role for r in await queries.waiting_for(world.deps, "U0APPR02")] == ["two-man"]
    assert read == [{"two-man"}]  # self-ok's request was never read for U0APPR02
    read.clear()
    assert await queries.waiting_for(world.deps, "U0NOBODY") == []
    assert read == []  # approves nothing pending: nothing read at all
