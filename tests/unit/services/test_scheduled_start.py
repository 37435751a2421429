"""Scheduled starts on the in-memory unit of work: approved ahead, applied at the start after a re-check, cancelled
before it, and not applied when the whole window passed while the bot was down."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.domain.model import GrantState, RequestState, VoteChoice
from bot.domain.wording import explain
from bot.services import approval, requests, scheduled
from tests.policies import policy_text, role
from tests.unit.services.world import ACCOUNT, GROUP, GROUP2, World, make_world

HOUR = timedelta(hours=1)
EMAIL = "alice@example.com"


@pytest.fixture
def world() -> World:
    """A fresh in-memory world (clock at 2026-01-01 09:00 UTC); Alice's Slack timezone is Berlin (UTC+1)."""
    w = make_world()
    w.directory.users["U0ALICE"]["tz"] = "Europe/Berlin"
    return w


async def _approved_ahead(world: World, start: str = "14:00", role: str = "prod-db") -> str:
    """File a request starting at `start` (Alice's time) and approve it; returns its ID."""
    out = await requests.submit(world.deps, "U0ALICE", role, 2 * HOUR, "release", start=start)
    assert out.ok, explain(out)
    rid = out.data["request_id"]
    if (await world.request(rid)).state is RequestState.PENDING:
        voted = await approval.vote(world.deps, rid, "U0APPR01", VoteChoice.APPROVE)
        assert voted.ok, explain(voted)
    return rid


async def _grants_of(world: World, rid: str) -> list:
    async with world.store.tx() as tx:
        return await tx.grants.find(request_id=rid)


async def test_a_start_is_read_in_the_requesters_timezone_and_audited_with_the_request(world: World) -> None:
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", 2 * HOUR, "release", start="14:00")
    assert out.key == "scheduled_filed" and out.zone == "Europe/Berlin" and out.zone_known
    req = await world.request(out.request_id)
    assert req.starts_at == world.clock.now().replace(hour=13)  # 14:00 in Berlin is 13:00 UTC
    created = [e for e in await _audit(world) if e["action"] == "request.created"][-1]
    assert created["details"]["starts_at"] == req.starts_at.isoformat()


async def test_approved_ahead_nothing_reaches_cloudflare_until_the_start(world: World) -> None:
    rid = await _approved_ahead(world)
    assert (await world.request(rid)).state is RequestState.SCHEDULED
    assert await _grants_of(world, rid) == []
    assert world.store.effects("cf.sync") == []
    assert [e["payload"]["event"] for e in world.store.effects("notify.user")] == ["scheduled"]
    assert "grant.scheduled" in [e["action"] for e in await _audit(world)]
    assert await scheduled.start_scheduled(world.deps, rid) == ""  # not due yet
    world.clock.advance(3 * HOUR)  # 12:00 UTC: still an hour before 13:00 UTC
    async with world.store.tx() as tx:
        assert await tx.requests.due_starts(world.clock.now()) == []
    assert EMAIL not in world.groups.emails(ACCOUNT, GROUP)


async def test_at_the_start_the_grant_is_applied_and_its_duration_runs_from_the_apply(world: World) -> None:
    rid = await _approved_ahead(world)
    world.clock.advance(4 * HOUR + timedelta(minutes=7))  # 13:07 UTC: found seven minutes late
    async with world.store.tx() as tx:
        assert await tx.requests.due_starts(world.clock.now()) == [rid]
    assert await scheduled.start_scheduled(world.deps, rid) == "applied"
    assert await scheduled.start_scheduled(world.deps, rid) == ""  # once
    assert (await world.request(rid)).state is RequestState.APPROVED
    await world.sync()
    [grant] = await _grants_of(world, rid)
    grant = await world.grant(grant.id)
    assert grant.state is GrantState.ACTIVE and EMAIL in world.groups.emails(ACCOUNT, GROUP)
    assert grant.granted_at == world.clock.now() and grant.expires_at == world.clock.now() + 2 * HOUR
    assert "grant.started" in [e["action"] for e in await _audit(world)]


async def test_a_scheduled_request_can_be_cancelled_before_its_start_and_then_never_applies(world: World) -> None:
    rid = await _approved_ahead(world)
    out = await requests.cancel(world.deps, "U0ALICE", rid)
    assert out.ok and (await world.request(rid)).state is RequestState.CANCELLED
    world.clock.advance(5 * HOUR)
    assert await scheduled.start_scheduled(world.deps, rid) == ""
    assert await _grants_of(world, rid) == []


async def test_the_start_rechecks_eligibility_and_refuses_a_requester_no_longer_allowed(world: World) -> None:
    rid = await _approved_ahead(world)
    world.directory.users["U0ALICE"]["deleted"] = True
    world.clock.advance(4 * HOUR)
    assert await scheduled.start_scheduled(world.deps, rid) == "refused"
    req = await world.request(rid)
    assert req.state is RequestState.CANCELLED and req.decided_by == "system" and "deactivated" in req.decision_note
    assert await _grants_of(world, rid) == []
    assert world.store.effects("notify.user")[-1]["payload"]["event"] == "start_refused"
    refused = [e for e in await _audit(world) if e["action"] == "grant.start_refused"]
    assert refused and refused[0]["details"]["code"] == "no_identity"


async def test_the_start_refuses_a_changed_email_and_a_removed_role(world: World) -> None:
    rid = await _approved_ahead(world)
    world.directory.users["U0ALICE"]["profile"]["email"] = "alice@elsewhere.example"
    world.clock.advance(4 * HOUR)
    assert await scheduled.start_scheduled(world.deps, rid) == "refused"
    assert (await world.request(rid)).state is RequestState.CANCELLED


async def test_the_start_refuses_when_the_role_left_the_policy(world: World) -> None:
    rid = await _approved_ahead(world)
    roles = {k: v for k, v in world.deps.policy.roles.items() if k != "prod-db"}
    world.deps.policy = replace(world.deps.policy, roles=roles)
    world.clock.advance(4 * HOUR)
    assert await scheduled.start_scheduled(world.deps, rid) == "refused"
    assert "no longer in the policy" in (await world.request(rid)).decision_note


async def test_the_start_refuses_a_requester_removed_from_the_roles_requesters(world: World) -> None:
    world.directory.users["U0BOB"]["tz"] = "UTC"
    out = await requests.submit(world.deps, "U0BOB", "restricted", HOUR, "x", start="12:00")
    assert out.ok, explain(out)
    assert (await approval.vote(world.deps, out.request_id, "U0APPR01", VoteChoice.APPROVE)).ok
    world.directory.groups["S0ENG"] = set()
    world.clock.advance(3 * HOUR)
    assert await scheduled.start_scheduled(world.deps, out.request_id) == "refused"
    [refused] = [e for e in await _audit(world) if e["action"] == "grant.start_refused"]
    assert refused["details"]["code"] == "not_allowed"


async def test_a_slack_outage_at_the_start_leaves_it_to_be_tried_again(world: World) -> None:
    from bot.domain.errors import TransientError
    rid = await _approved_ahead(world)
    world.clock.advance(4 * HOUR)

    async def down(user_id: str) -> dict:
        raise TransientError("slack down")
    real = world.directory.user_profile
    world.directory.user_profile = down  # type: ignore[method-assign]
    assert await scheduled.start_scheduled(world.deps, rid) == "retry"
    assert (await world.request(rid)).state is RequestState.SCHEDULED
    world.directory.user_profile = real  # type: ignore[method-assign]
    assert await scheduled.start_scheduled(world.deps, rid) == "applied"


async def test_when_the_whole_window_passed_while_down_nothing_is_applied_and_the_requester_is_told(
        world: World) -> None:
    rid = await _approved_ahead(world)
    world.clock.advance(6 * HOUR)  # 15:00 UTC: the window 13:00-15:00 is over
    assert await scheduled.start_scheduled(world.deps, rid) == "missed"
    assert (await world.request(rid)).state is RequestState.EXPIRED
    assert await _grants_of(world, rid) == []
    assert world.store.effects("notify.user")[-1]["payload"]["event"] == "start_missed"
    assert "grant.start_missed" in [e["action"] for e in await _audit(world)]


async def test_after_downtime_a_start_inside_its_window_still_applies(world: World) -> None:
    rid = await _approved_ahead(world)
    world.clock.advance(5 * HOUR)  # 14:00 UTC, an hour into the 13:00-15:00 window
    assert await scheduled.start_scheduled(world.deps, rid) == "applied"


async def test_starts_in_the_past_too_far_ahead_or_unreadable_are_refused_and_audited(world: World) -> None:
    past = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x", start="08:00")
    assert past.code == "start_in_past" and "tomorrow" in explain(past)
    far = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x", start="2026-03-01 08:00")
    assert far.code == "start_too_far" and "30d" in explain(far)
    bad = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x", start="25:00")
    assert bad.code == "bad_start"
    codes = [e["details"]["code"] for e in await _audit(world) if e["action"] == "request.refused"]
    assert codes == ["start_in_past", "start_too_far", "bad_start"]
    async with world.store.tx() as tx:
        assert await tx.requests.pending() == []


async def test_max_schedule_ahead_is_a_role_key() -> None:
    world = make_world(policy_text({"prod-db": role(GROUP, approvers=["U0APPR01"], max_schedule_ahead="1h")}))
    prod = world.deps.policy.role("prod-db")
    assert prod is not None and prod.max_schedule_ahead == HOUR
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x", start="2026-01-01T11:00Z")
    assert out.code == "start_too_far"


async def test_an_unknown_timezone_is_read_as_utc_and_the_reply_says_so(world: World) -> None:
    world.directory.users["U0ALICE"]["tz"] = "Nowhere/Atlantis"
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x", start="14:00")
    assert out.ok and not out.zone_known and "UTC" in explain(out)
    assert (await world.request(out.request_id)).starts_at == world.clock.now().replace(hour=14)


async def test_one_scheduled_or_pending_request_per_role(world: World) -> None:
    await _approved_ahead(world)
    again = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x", start="tomorrow 10:00")
    assert again.code == "already_pending"
    now = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x")
    assert now.code == "already_pending"


async def test_a_live_grant_ending_before_the_start_may_coexist_but_one_still_live_at_the_start_refuses_it(
        world: World) -> None:
    await world.active_grant(duration=HOUR)  # 09:00-10:00 UTC
    ok = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "x", start="14:00")  # 13:00 UTC
    assert ok.ok, explain(ok)
    world2 = make_world()
    world2.directory.users["U0ALICE"]["tz"] = "UTC"
    await world2.active_grant(duration=2 * HOUR)  # 09:00-11:00 UTC
    overlap = await requests.submit(world2.deps, "U0ALICE", "prod-db", HOUR, "x", start="10:00")
    assert overlap.code == "already_granted"


async def test_a_start_refuses_when_the_live_grant_was_extended_past_it(world: World) -> None:
    world.directory.users["U0ALICE"]["tz"] = "UTC"
    grant = await world.active_grant(duration=HOUR)  # 09:00-10:00 UTC
    rid = await _approved_ahead(world, start="11:00")
    world.clock.advance(timedelta(minutes=30))
    ext = await requests.submit_extend(world.deps, "U0ALICE", grant.id, 4 * HOUR, "longer")
    if ext.key == "extension_filed":
        assert (await approval.vote(world.deps, ext.request_id, "U0APPR01", VoteChoice.APPROVE)).ok
    world.clock.advance(HOUR + timedelta(minutes=30))  # 11:00, the grant now runs to 14:00
    assert await scheduled.start_scheduled(world.deps, rid) == "refused"
    assert (await world.request(rid)).decision_note.startswith("you already hold")


async def test_an_auto_approve_role_schedules_at_once_and_applies_at_the_start(world: World) -> None:
    out = await requests.submit(world.deps, "U0ALICE", "shared-a", HOUR, "", start="11:00")
    assert out.key == "auto_scheduled"
    assert (await world.request(out.request_id)).state is RequestState.SCHEDULED
    world.clock.advance(HOUR)  # 10:00 UTC = 11:00 Berlin
    assert await scheduled.start_scheduled(world.deps, out.request_id) == "applied"
    await world.sync(GROUP2)
    assert EMAIL in world.groups.emails(ACCOUNT, GROUP2)


async def _audit(world: World) -> list[dict]:
    """The committed audit rows, in order."""
    return list(world.store.db.audit)


async def test_the_approver_is_told_the_access_starts_later(world: World) -> None:
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "release", start="14:00")
    voted = await approval.vote(world.deps, out.request_id, "U0APPR01", VoteChoice.APPROVE)
    assert voted.key == "approved" and voted.starts_at == out.starts_at
    assert "applied at its start, 2026-01-01 13:00 UTC" in explain(voted)


async def test_a_scheduled_request_still_undecided_when_its_window_ends_times_out_then(world: World) -> None:
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", HOUR, "release", start="11:00")  # 10:00 UTC
    req = await world.request(out.request_id)
    assert req.expires_at == req.starts_at + HOUR  # before the role's 24h request_timeout
    world.clock.advance(2 * HOUR)
    assert await requests.expire_request(world.deps, req.id)
    assert (await world.request(req.id)).state is RequestState.EXPIRED


async def test_a_late_approval_inside_the_window_applies_at_once_for_the_full_duration(world: World) -> None:
    out = await requests.submit(world.deps, "U0ALICE", "prod-db", 2 * HOUR, "release", start="11:00")
    world.clock.advance(HOUR + timedelta(minutes=30))  # 10:30 UTC, half an hour after the start
    assert (await approval.vote(world.deps, out.request_id, "U0APPR01", VoteChoice.APPROVE)).ok
    await world.sync()
    [grant] = await _grants_of(world, out.request_id)
    assert (await world.grant(grant.id)).expires_at == world.clock.now() + 2 * HOUR
