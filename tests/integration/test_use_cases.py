"""The access flow through the real use cases, scheduler and storage (SQLite and PostgreSQL), fakes at the ports."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.domain.audit import first_broken
from bot.domain.errors import PermanentError, TransientError
from bot.domain.model import GrantState, RequestState, VoteChoice
from bot.services import approval, grants, requests
from bot.slack.render import slack_text
from tests.core_harness import ACCOUNT, GROUP, GROUP2, make_core


@pytest.fixture
async def core(database_url):  # noqa: ANN001, ANN201
    c = await make_core(database_url)
    yield c
    await c.deps.store.engine.dispose()


async def _grant_of(core, request_id):  # noqa: ANN001, ANN202
    async with core.deps.store.tx() as tx:
        found = await tx.grants.find()
    return next(g for g in found if g.request_id == request_id)


async def test_a_day_long_grant_is_applied_warned_and_revoked_on_time(core) -> None:  # noqa: ANN001
    out = await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(days=1), "incident 4211")
    assert out.ok, slack_text(out)
    rid = out.data["request_id"]
    await core.settle()
    assert core.owed("approval.post") == [{"request_id": rid}]
    voted = await approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE)
    assert voted.ok and voted.code == "approved"
    await core.settle()
    grant = await _grant_of(core, rid)
    assert grant.state is GrantState.ACTIVE
    assert grant.expires_at == core.clock.now() + timedelta(days=1)
    assert "alice@example.com" in core.groups.emails(ACCOUNT, GROUP)
    core.clock.advance(timedelta(hours=23, minutes=50))
    await core.settle()
    assert any(p["event"] == "warned" for p in core.owed("notify.user"))
    core.clock.advance(timedelta(minutes=10))
    await core.settle()
    grant = await _grant_of(core, rid)
    assert grant.state is GrantState.REVOKED and grant.revoke_reason == "expired"
    assert "alice@example.com" not in core.groups.emails(ACCOUNT, GROUP)
    assert core.groups.revoked == [(ACCOUNT, "alice@example.com")]
    assert core.groups.groups[(ACCOUNT, GROUP)]["include"][0] == {"email_domain": {"domain": "sre.example.com"}}
    async with core.deps.store.tx() as tx:
        rows = await tx.audit.rows()
    actions = [r["action"] for r in rows]
    for a in ("request.created", "request.vote", "request.approved", "grant.applied", "grant.warned",
              "grant.revoked", "session.revoked"):
        assert actions.count(a) == 1, (a, actions)
    assert first_broken(rows) is None


async def test_one_deny_denies_and_no_grant_is_made(core) -> None:  # noqa: ANN001
    rid = (await requests.submit(core.deps, "U0ALICE", "two-man", timedelta(hours=1), "x")).data["request_id"]
    await approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE)
    out = await approval.vote(core.deps, rid, "U0APPR02", VoteChoice.DENY)
    assert out.code == "denied"
    async with core.deps.store.tx() as tx:
        assert (await tx.requests.get(rid)).state is RequestState.DENIED
        assert await tx.grants.find() == []


async def test_two_approvals_needed_means_two_distinct_approvers(core) -> None:  # noqa: ANN001
    rid = (await requests.submit(core.deps, "U0ALICE", "two-man", timedelta(hours=1), "x")).data["request_id"]
    assert (await approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE)).code == "voted"
    again = await approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE)
    assert not again.ok and again.code == "already_voted"
    assert (await approval.vote(core.deps, rid, "U0APPR02", VoteChoice.APPROVE)).code == "approved"
    late = await approval.vote(core.deps, rid, "U0APPR02", VoteChoice.DENY)
    assert late.code == "already_decided"


async def test_non_approvers_and_self_approval_are_refused_and_audited(core) -> None:  # noqa: ANN001
    rid = (await requests.submit(core.deps, "U0APPR01", "prod-db", timedelta(hours=1), "x")).data["request_id"]
    assert (await approval.vote(core.deps, rid, "U0BOB", VoteChoice.APPROVE)).code == "not_an_approver"
    assert (await approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE)).code == "self_approval"
    assert (await approval.vote(core.deps, rid, "U0APPR03", VoteChoice.APPROVE)).code == "approved"  # via S0SRE
    async with core.deps.store.tx() as tx:
        refused = await tx.audit.rows(action="approval.refused")
    assert [r["details"]["code"] for r in refused] == ["not_an_approver", "self_approval"]


async def test_self_approval_is_allowed_when_the_role_says_so(core) -> None:  # noqa: ANN001
    rid = (await requests.submit(core.deps, "U0ALICE", "self-ok", timedelta(hours=1), "x")).data["request_id"]
    assert (await approval.vote(core.deps, rid, "U0ALICE", VoteChoice.APPROVE)).code == "approved"


async def test_requesters_allow_list_holds(core) -> None:  # noqa: ANN001
    out = await requests.submit(core.deps, "U0ALICE", "restricted", timedelta(hours=1), "x")
    assert not out.ok and out.code == "not_allowed"
    assert (await requests.submit(core.deps, "U0BOB", "restricted", timedelta(hours=1), "x")).ok


@pytest.mark.parametrize(("role", "duration", "reason", "code"), [
    ("nope", timedelta(hours=1), "x", "unknown_role"),
    ("prod-db", timedelta(minutes=1), "x", "duration_too_short"),
    ("prod-db", timedelta(days=3), "x", "duration_too_long"),
    ("prod-db", timedelta(hours=1), "  ", "reason_required"),
])
async def test_refusals_say_why_and_are_audited(core, role, duration, reason, code) -> None:  # noqa: ANN001
    out = await requests.submit(core.deps, "U0ALICE", role, duration, reason)
    assert not out.ok and out.code == code and slack_text(out)
    async with core.deps.store.tx() as tx:
        rows = await tx.audit.rows(action="request.refused")
        assert await tx.requests.pending() == []
    assert rows[-1]["details"]["code"] == code


@pytest.mark.parametrize(("flags", "email"), [({"is_bot": True}, "b@example.com"), ({"deleted": True}, "d@x.io"),
                                              ({"is_restricted": True}, "g@x.io"), ({}, None)])
async def test_bots_deleted_users_guests_and_users_without_email_are_refused(core, flags, email) -> None:  # noqa: ANN001
    core.directory.add_user("U0ODD", email, **flags)
    out = await requests.submit(core.deps, "U0ODD", "prod-db", timedelta(hours=1), "x")
    assert not out.ok and out.code == "no_identity"


async def test_a_second_request_for_a_held_role_points_to_extend(core) -> None:  # noqa: ANN001
    await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    await core.settle()
    out = await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    assert out.code == "already_granted" and "extend" in slack_text(out)


async def test_email_stays_while_another_grant_on_the_same_group_needs_it(core) -> None:  # noqa: ANN001
    await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    rid = (await requests.submit(core.deps, "U0ALICE", "two-man", timedelta(hours=3), "x")).data["request_id"]
    await approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE)
    await approval.vote(core.deps, rid, "U0APPR02", VoteChoice.APPROVE)
    await core.settle()
    assert core.groups.emails(ACCOUNT, GROUP2) == ["alice@example.com"]
    core.clock.advance(timedelta(hours=1))
    await core.settle()
    assert core.groups.emails(ACCOUNT, GROUP2) == ["alice@example.com"]
    core.clock.advance(timedelta(hours=2))
    await core.settle()
    assert core.groups.emails(ACCOUNT, GROUP2) == []
    async with core.deps.store.tx() as tx:
        assert {g.state for g in await tx.grants.find()} == {GrantState.REVOKED}


async def test_a_standing_member_is_never_removed_by_the_bot(core) -> None:  # noqa: ANN001
    core.groups.add(ACCOUNT, GROUP2, include=[{"email": {"email": "alice@example.com"}}])
    await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    await core.settle()
    core.clock.advance(timedelta(hours=1))
    await core.settle()
    assert core.groups.emails(ACCOUNT, GROUP2) == ["alice@example.com"]


async def test_a_transient_failure_is_retried_and_the_grant_waits_for_confirmation(core) -> None:  # noqa: ANN001
    core.groups.failures = [TransientError("boom", status=503)]
    await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    await core.settle()
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
    assert g.state is GrantState.PENDING
    core.clock.advance(timedelta(seconds=5))
    await core.settle()
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
    assert g.state is GrantState.ACTIVE and g.granted_at == core.clock.now()


async def test_a_revocation_failing_for_minutes_alerts_admins_and_recovers(core) -> None:  # noqa: ANN001
    await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    await core.settle()
    core.clock.advance(timedelta(hours=1))
    core.groups.failures = [TransientError("down", status=502)] * 30
    for _ in range(12):
        await core.settle()
        core.clock.advance(timedelta(seconds=61))
    events = [p["event"] for p in core.owed("notify.admins")]
    assert "revoke_failing" in events
    core.groups.failures = []
    core.clock.advance(timedelta(seconds=61))
    await core.settle()
    assert "revoke_recovered" in [p["event"] for p in core.owed("notify.admins")]
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
        failed = await tx.audit.rows(action="grant.revoke_failed")
    assert g.state is GrantState.REVOKED and failed


async def test_a_permanent_error_fails_the_grant_and_tells_people(core) -> None:  # noqa: ANN001
    core.groups.failures = [PermanentError("group gone", status=404, errors=[{"code": 7003, "message": "nope"}])]
    await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    await core.settle()
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
        rows = await tx.audit.rows(action="grant.apply_failed")
    assert g.state is GrantState.FAILED
    assert rows[0]["details"]["errors"] == [{"code": 7003, "message": "nope"}]
    assert any(p["event"] == "failed" for p in core.owed("notify.user"))
    assert any(p["event"] == "grant_failed" for p in core.owed("notify.admins"))


async def test_revoking_by_hand_ends_the_grant_and_only_owner_or_admin_may(core) -> None:  # noqa: ANN001
    await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    await core.settle()
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
    assert not (await grants.revoke(core.deps, "U0BOB", g.id)).ok
    assert (await grants.revoke(core.deps, "U0ADMIN1", g.id)).ok
    await core.settle()
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
    assert g.state is GrantState.REVOKED and g.revoke_reason == "admin"


async def test_pending_requests_expire_after_the_timeout(core) -> None:  # noqa: ANN001
    rid = (await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "x")).data["request_id"]
    core.clock.advance(timedelta(hours=24))
    await core.settle()
    async with core.deps.store.tx() as tx:
        assert (await tx.requests.get(rid)).state is RequestState.EXPIRED
    assert (await approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE)).code == "already_decided"


async def test_extending_moves_the_expiry_and_rearms_the_warning(core) -> None:  # noqa: ANN001
    await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    await core.settle()
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
    out = await requests.submit_extend(core.deps, "U0ALICE", g.id, timedelta(hours=1), "")
    assert out.ok, slack_text(out)
    async with core.deps.store.tx() as tx:
        (g2,) = await tx.grants.find()
    assert g2.expires_at == g.expires_at + timedelta(hours=1)


async def test_an_approval_racing_the_pending_timeout_never_grants_and_expires_it_once(core) -> None:  # noqa: ANN001
    rid = (await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "x")).data["request_id"]
    core.clock.advance(timedelta(hours=24))
    voted, expired = await asyncio.gather(approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE),
                                          requests.expire_request(core.deps, rid))
    async with core.deps.store.tx() as tx:
        req = await tx.requests.get(rid)
        rows = await tx.audit.rows()
        made = await tx.grants.find()
    # Past its request_timeout the request can no longer be approved: whichever runs first closes it as
    # expired (the sweep, or the click, which re-checks the timeout), once.
    assert req.state is RequestState.EXPIRED and voted.code in ("request_expired", "already_decided")
    decisions = [r["action"] for r in rows if r["action"] in ("request.approved", "request.expired")]
    assert decisions == ["request.expired"]
    assert made == [] and expired == (voted.code == "already_decided")


async def test_approve_racing_deny_ends_in_one_outcome(core) -> None:  # noqa: ANN001
    rid = (await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "x")).data["request_id"]
    a, d = await asyncio.gather(approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE),
                                approval.vote(core.deps, rid, "U0APPR02", VoteChoice.DENY))
    assert sorted([a.ok, d.ok]) == [False, True]
    async with core.deps.store.tx() as tx:
        rows = await tx.audit.rows()
        made = await tx.grants.find()
    decisions = [r["action"] for r in rows if r["action"] in ("request.approved", "request.denied")]
    assert len(decisions) == 1 and len(made) == (1 if decisions == ["request.approved"] else 0)


async def test_racing_approve_clicks_make_one_grant(core) -> None:  # noqa: ANN001
    rid = (await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "x")).data["request_id"]
    outs = await asyncio.gather(*(approval.vote(core.deps, rid, voter, VoteChoice.APPROVE)
                                  for voter in ("U0APPR01", "U0APPR02", "U0APPR01", "U0APPR03") * 3))
    assert [o.code for o in outs].count("approved") == 1
    async with core.deps.store.tx() as tx:
        assert len(await tx.grants.find()) == 1
        assert len(await tx.audit.rows(action="request.approved")) == 1


async def test_a_revoke_racing_the_expiry_revokes_once(core) -> None:  # noqa: ANN001
    await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    await core.settle()
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
    core.clock.advance(timedelta(hours=1))
    await asyncio.gather(grants.revoke(core.deps, "U0ALICE", g.id), grants.expire_grant(core.deps, g.id))
    await core.settle()
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
        rows = await tx.audit.rows(action="grant.revoked")
    assert g.state is GrantState.REVOKED and len(rows) == 1
    assert rows[0]["details"]["reason"] in ("expired", "manual")


async def test_an_expiry_rereads_state_so_an_extended_grant_is_not_cut_short(core) -> None:  # noqa: ANN001
    await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    await core.settle()
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
    await requests.submit_extend(core.deps, "U0ALICE", g.id, timedelta(hours=1), "")
    core.clock.advance(timedelta(hours=1))
    assert not await grants.expire_grant(core.deps, g.id)
    await core.settle()
    async with core.deps.store.tx() as tx:
        (g,) = await tx.grants.find()
    assert g.state is GrantState.ACTIVE


async def test_revoking_n_grants_on_g_groups_costs_two_calls_per_group(core) -> None:  # noqa: ANN001
    for i in range(6):
        core.directory.add_user(f"U0P{i}", f"p{i}@example.com")
        await requests.submit(core.deps, f"U0P{i}", "shared-a", timedelta(hours=1), "")
    await core.settle()
    core.groups.calls.clear()
    core.clock.advance(timedelta(hours=1))
    await core.settle()
    assert core.groups.calls == [("GET", GROUP2), ("PUT", GROUP2)]
    assert core.groups.emails(ACCOUNT, GROUP2) == []
