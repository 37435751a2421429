"""Reminders and escalation of pending requests (issue 11), on the in-memory unit of work with a manual clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.model import RequestState, VoteChoice
from bot.domain.wording import explain
from bot.scheduler import Scheduler
from bot.services import approval, reminders, requests
from tests.core_harness import GROUP, GROUP2
from tests.fakes import RecordingMessenger
from tests.fakes_uow import FakeLocker
from tests.policies import policy_text, role
from tests.unit.services.world import World, make_world

M = timedelta(minutes=1)
POLICY = policy_text({
    "prod-db": role(GROUP, approvers=["U0APPR01"], remind_after="15m", reminders=2, escalate_after="40m",
                    escalate_to=["U0APPR02", "S0SRE"]),
    "quiet": role(GROUP2, approvers=["U0APPR01"]),
}, defaults={"request_timeout": "4h"})


@pytest.fixture
def world() -> World:
    """A world whose prod-db reminds twice, 15 minutes apart, and escalates after 40 minutes."""
    return make_world(POLICY)


async def _file(world: World, role_name: str = "prod-db") -> str:
    out = await requests.submit(world.deps, "U0ALICE", role_name, timedelta(hours=1), "incident 4211")
    assert out.ok, explain(out)
    return out.data["request_id"]  # type: ignore[index]


def _scheduler(world: World) -> Scheduler:
    return Scheduler(world.deps, FakeLocker(), RecordingMessenger(), seed=1)


def _kinds(world: World, kind: str) -> list[dict]:
    return [e["payload"] for e in world.store.effects(kind)]


async def test_a_request_is_filed_with_its_first_reminder_and_its_escalation_timed_from_the_filing(
        world: World) -> None:
    rid = await _file(world)
    req = await world.request(rid)
    assert req.remind_at == req.created_at + 15 * M and req.escalate_at == req.created_at + 40 * M
    quiet = await world.request(await _file(world, "quiet"))
    assert quiet.remind_at is None and quiet.escalate_at is None


async def test_nothing_is_reminded_before_remind_after(world: World) -> None:
    rid = await _file(world)
    world.clock.advance(14 * M)
    assert not await reminders.remind_request(world.deps, rid)
    await _scheduler(world).tick()
    assert "request.reminded" not in world.store.actions() and _kinds(world, "approval.remind") == []


async def test_the_scheduler_reminds_at_remind_after_and_at_most_reminders_times(world: World) -> None:
    rid = await _file(world)
    sched = _scheduler(world)
    for _ in range(8):  # 8 × 15m: two reminders are allowed, then none
        world.clock.advance(15 * M)
        await sched.tick()
    assert world.store.actions().count("request.reminded") == 2
    assert [p["nth"] for p in _kinds(world, "approval.remind")] == [1, 2]
    req = await world.request(rid)
    assert req.reminders_sent == 2 and req.remind_at is None


async def test_running_the_timer_twice_or_on_a_second_scheduler_reminds_once(world: World) -> None:
    await _file(world)
    world.clock.advance(15 * M)
    first, restarted = _scheduler(world), _scheduler(world)
    await first.tick()
    await first.tick()
    await restarted.tick()
    assert world.store.actions().count("request.reminded") == 1
    assert len(_kinds(world, "approval.remind")) == 1


async def test_a_decision_stops_reminders_and_escalation(world: World) -> None:
    rid = await _file(world)
    world.clock.advance(5 * M)
    assert (await approval.vote(world.deps, rid, "U0APPR01", VoteChoice.DENY)).ok
    world.clock.advance(2 * timedelta(hours=1))
    await _scheduler(world).tick()
    assert not {"request.reminded", "request.escalated"} & set(world.store.actions())
    assert not await reminders.escalate_request(world.deps, rid)


async def test_reminders_missed_while_down_are_spaced_out_not_sent_in_a_burst(world: World) -> None:
    rid = await _file(world)
    world.clock.advance(35 * M)  # both reminder slots (15m, 30m) passed while no scheduler ran
    sched = _scheduler(world)
    await sched.tick()
    await sched.tick()
    assert world.store.actions().count("request.reminded") == 1
    req = await world.request(rid)
    assert req.remind_at == world.clock.now() + 15 * M


async def test_escalation_makes_escalate_to_approvers_and_asks_them_once(world: World) -> None:
    rid = await _file(world)
    out = await approval.vote(world.deps, rid, "U0APPR02", VoteChoice.APPROVE)
    assert not out.ok and out.code == "not_an_approver"  # not yet: only after escalate_after
    world.clock.advance(40 * M)
    sched = _scheduler(world)
    await sched.tick()
    await sched.tick()
    assert world.store.actions().count("request.escalated") == 1
    assert _kinds(world, "approval.escalate") == [{"request_id": rid}]
    escalated = [r for r in world.store.db.audit if r["action"] == "request.escalated"][0]
    assert escalated["details"]["to"] == ["U0APPR02", "S0SRE"]
    out = await approval.vote(world.deps, rid, "U0APPR03", VoteChoice.APPROVE)  # a member of S0SRE
    assert out.ok, explain(out)
    assert (await world.request(rid)).state is RequestState.APPROVED


async def test_an_escalated_request_is_waiting_for_the_escalation_targets(world: World) -> None:
    rid = await _file(world)
    async with world.store.tx() as tx:
        assert await requests.pending_for(world.deps, tx, "U0APPR02") == []
    world.clock.advance(40 * M)
    assert await reminders.escalate_request(world.deps, rid)
    async with world.store.tx() as tx:
        assert [r.id for r in await requests.pending_for(world.deps, tx, "U0APPR02")] == [rid]


async def test_a_reminder_is_never_scheduled_past_the_request_timeout() -> None:
    world = make_world(policy_text({"prod-db": role(GROUP, approvers=["U0APPR01"], remind_after="1h",
                                                    reminders=5)}, defaults={"request_timeout": "2h"}))
    rid = await _file(world)
    world.clock.advance(timedelta(hours=1))
    assert await reminders.remind_request(world.deps, rid)
    assert (await world.request(rid)).remind_at is None
