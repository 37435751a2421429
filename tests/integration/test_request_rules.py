"""The rules on requests hold in the database and at approval, under races, on SQLite and PostgreSQL:
one pending request and one live grant per person and role, one pending extension per grant, the
`max_duration` cap from a grant's start, every filing check run again at approval, IDs that survive a
collision, and a limit on how fast one person files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from bot.config.policy_file import parse_policy
from bot.domain.errors import TransientError
from bot.domain.limits import FilingLimit
from bot.domain.model import AccessRequest, Grant, GrantState, RequestKind, RequestState, VoteChoice
from bot.services import approval, grants, requests
from bot.services.context import RuleConflict
from bot.slack.render import slack_text
from bot.storage.repos.grants import SqlGrants
from bot.storage.repos.requests import SqlRequests
from bot.storage.store import Inserted
from tests.core_harness import ACCOUNT, GROUP, GROUP2, POLICY, Core, make_core

RULES_POLICY = POLICY + f"""
  capped:
    group_id: {GROUP}
    account_id: {ACCOUNT}
    approvers: [U0APPR01]
    max_duration: 4h
  quick:
    group_id: {GROUP2}
    account_id: {ACCOUNT}
    auto_approve: true
    require_reason: false
    max_duration: 1h
"""


@pytest.fixture
async def core(database_url: str) -> AsyncIterator[Core]:
    c = await make_core(database_url, RULES_POLICY)
    yield c
    await c.deps.store.engine.dispose()


async def _rows(core: Core) -> tuple[list[AccessRequest], list[Grant]]:
    async with core.deps.store.tx() as tx:
        reqs = await tx.requests.of("U0ALICE") + await tx.requests.of("U0ALICE", RequestState.APPROVED)
        return reqs, await tx.grants.find(requester="U0ALICE")


async def _audit(core: Core, action: str) -> list[dict]:
    async with core.deps.store.tx() as tx:
        return await tx.audit.rows(action=action)


async def _active_grant(core: Core, role: str, duration: timedelta, user: str = "U0ALICE") -> Grant:
    out = await requests.submit(core.deps, user, role, duration, "incident 7")
    assert out.ok, slack_text(out)
    if "grant_id" not in (out.data or {}):
        assert (await approval.vote(core.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)).ok
    await core.settle()
    async with core.deps.store.tx() as tx:
        [grant] = await tx.grants.find(requester=user, role=role, states=(GrantState.ACTIVE,))
    return grant


def _length(grant: Grant) -> timedelta:
    assert grant.expires_at and grant.granted_at
    return grant.expires_at - grant.granted_at


async def _grant(core: Core, grant_id: str) -> Grant:
    async with core.deps.store.tx() as tx:
        found = await tx.grants.get(grant_id)
    assert found is not None
    return found


# ---------------------------------------------------------------------------------------- max_duration

async def test_a_second_extension_of_a_grant_is_refused_while_one_is_pending_so_three_extends_stay_within_max(
        core: Core) -> None:
    grant = await _active_grant(core, "capped", timedelta(hours=3))
    outs = [await requests.submit_extend(core.deps, "U0ALICE", grant.id, timedelta(hours=1), "more")
            for _ in range(3)]
    assert [o.ok for o in outs] == [True, False, False]
    first = outs[0].data["request_id"]
    for refused in outs[1:]:
        assert refused.code == "extension_pending"
        assert f"`{grant.id}` already has an extension waiting for approval (`{first}`)" in slack_text(refused)
    for rid in [first]:
        assert (await approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE)).code == "approved"
    assert _length(await _grant(core, grant.id)) == timedelta(hours=4)
    again = await requests.submit_extend(core.deps, "U0ALICE", grant.id, timedelta(hours=1), "more")
    assert not again.ok and again.code == "duration_too_long" and "5h in all" in slack_text(again)
    assert _length(await _grant(core, grant.id)) == timedelta(hours=4)
    refused = [r["details"]["code"] for r in await _audit(core, "request.refused")]
    assert refused == ["extension_pending", "extension_pending", "duration_too_long"]


async def test_approving_an_extension_checks_the_cap_again_and_denies_it_when_the_total_would_pass_it(
        core: Core) -> None:
    grant = await _active_grant(core, "capped", timedelta(hours=3))
    out = await requests.submit_extend(core.deps, "U0ALICE", grant.id, timedelta(hours=1), "more")
    assert out.ok, slack_text(out)
    core.deps.policy = parse_policy(RULES_POLICY.replace("    max_duration: 4h\n", "    max_duration: 3h30m\n"))
    voted = await approval.vote(core.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)
    assert not voted.ok and voted.code == "duration_too_long"
    assert "closed as denied" in slack_text(voted) and "4h in all" in slack_text(voted) and "3h30m" in slack_text(voted)
    assert _length(await _grant(core, grant.id)) == timedelta(hours=3)
    async with core.deps.store.tx() as tx:
        req = await tx.requests.get(out.data["request_id"])
    assert req and req.state is RequestState.DENIED and req.decided_by == "system" and "4h in all" in req.decision_note
    [denied] = await _audit(core, "request.denied")
    assert denied["details"]["recheck"] is True and denied["details"]["clicked_by"] == "U0APPR01"


# ---------------------------------------------------------------------------------------- races

async def test_ten_concurrent_requests_for_one_role_leave_one_pending_request(core: Core) -> None:
    outs = await asyncio.gather(*(requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), f"r{i}")
                                  for i in range(10)))
    assert sum(o.ok for o in outs) == 1
    assert {o.code for o in outs if not o.ok} == {"already_pending"}
    reqs, made = await _rows(core)
    assert [r.state for r in reqs] == [RequestState.PENDING] and made == []


async def test_ten_concurrent_requests_on_an_auto_approve_role_make_one_live_grant(core: Core) -> None:
    outs = await asyncio.gather(*(requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
                                  for _ in range(10)))
    assert sum(o.ok for o in outs) == 1
    assert {o.code for o in outs if not o.ok} == {"already_granted"}
    reqs, made = await _rows(core)
    assert len(reqs) == 1 and len(made) == 1
    await core.settle()
    assert core.groups.emails(ACCOUNT, GROUP2) == ["alice@example.com"]


async def test_eight_concurrent_auto_approved_extends_never_take_a_grant_past_max_duration(core: Core) -> None:
    grant = await _active_grant(core, "quick", timedelta(minutes=50))
    outs = await asyncio.gather(*(requests.submit_extend(core.deps, "U0ALICE", grant.id, timedelta(minutes=10), "")
                                  for _ in range(8)))
    assert sum(o.ok for o in outs) == 1, [slack_text(o) for o in outs]
    assert {o.code for o in outs if not o.ok} == {"duration_too_long"}
    assert _length(await _grant(core, grant.id)) == timedelta(hours=1)
    assert len(await _audit(core, "grant.extended")) == 1


async def test_concurrent_filings_by_different_people_all_go_through(core: Core) -> None:
    people = ["U0ALICE", "U0BOB", "U0APPR02", "U0APPR03", "U0ADMIN1"]
    outs = await asyncio.gather(*(requests.submit(core.deps, u, "shared-a", timedelta(hours=1), "") for u in people))
    assert all(o.ok for o in outs), [slack_text(o) for o in outs]


# ------------------------------------------------------------------------------ the database has the last word

@pytest.fixture
def lost_race(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The checks see nothing pending or held, as when a concurrent filing has not committed yet."""
    async def nothing(self: object, *args: object, **kwargs: object) -> None:
        return None
    for repo, name in ((SqlRequests, "pending_request_for"), (SqlGrants, "live_for"),
                       (SqlRequests, "pending_extension_for")):
        monkeypatch.setattr(repo, name, nothing)
    yield


async def test_a_pending_request_the_checks_missed_is_refused_by_the_database_with_the_usual_words(
        core: Core, lost_race: None) -> None:
    first = await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "one")
    assert first.ok
    usual = "you already have a pending request for `prod-db`"
    second = await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "two")
    assert not second.ok and second.code == "already_pending" and slack_text(second).startswith(usual)
    reqs, _ = await _rows(core)
    assert len(reqs) == 1
    [refused] = await _audit(core, "request.refused")
    assert refused["details"]["code"] == "already_pending" and refused["details"]["race"] is True


async def test_a_live_grant_the_checks_missed_is_refused_by_the_database_and_nothing_of_the_filing_stays(
        core: Core, lost_race: None) -> None:
    assert (await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")).ok
    second = await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    assert not second.ok and second.code == "already_granted" and "you already hold `shared-a`" in slack_text(second)
    reqs, made = await _rows(core)
    assert len(reqs) == 1 and len(made) == 1  # the second request and its approval were rolled back
    assert len(await _audit(core, "request.approved")) == 1


async def test_a_second_pending_extension_the_checks_missed_is_refused_by_the_database(
        core: Core, lost_race: None) -> None:
    grant = await _active_grant(core, "capped", timedelta(hours=1))
    assert (await requests.submit_extend(core.deps, "U0ALICE", grant.id, timedelta(hours=1), "more")).ok
    second = await requests.submit_extend(core.deps, "U0ALICE", grant.id, timedelta(hours=1), "more")
    assert not second.ok and second.code == "extension_pending"


async def test_the_indexes_refuse_a_second_pending_request_extension_and_live_grant(core: Core) -> None:
    now = core.clock.now()

    def req(rid: str, kind: RequestKind = RequestKind.NEW, grant_id: str | None = None) -> AccessRequest:
        return AccessRequest(rid, "prod-db", "U0ALICE", "a@x.io", timedelta(hours=1), "", now, now + timedelta(hours=1),
                             kind=kind, grant_id=grant_id)

    def grant(gid: str, state: GrantState = GrantState.PENDING) -> Grant:
        return Grant(gid, "r-22222222", "prod-db", "U0ALICE", "a@x.io", ACCOUNT, GROUP, timedelta(hours=1), now,
                     state=state)

    async with core.deps.store.tx() as tx:
        assert await tx.requests.add(req("r-22222222")) is Inserted.OK
        assert await tx.requests.add(req("r-22222222")) is Inserted.ID_TAKEN
        assert await tx.requests.add(req("r-33333333")) is Inserted.CONFLICT
        assert await tx.requests.add(req("r-44444444", RequestKind.EXTEND, "g-22222222")) is Inserted.OK
        assert await tx.requests.add(req("r-55555555", RequestKind.EXTEND, "g-22222222")) is Inserted.CONFLICT
        assert await tx.requests.add(req("r-66666666", RequestKind.EXTEND, "g-33333333")) is Inserted.OK
        assert await tx.grants.add(grant("g-22222222")) is Inserted.OK
        assert await tx.grants.add(grant("g-22222222", GrantState.REVOKED)) is Inserted.ID_TAKEN
        assert await tx.grants.add(grant("g-33333333")) is Inserted.CONFLICT
        assert await tx.grants.add(grant("g-44444444", GrantState.REVOKED)) is Inserted.OK  # ended: no rule
        assert await tx.requests.move("r-22222222", RequestState.PENDING, RequestState.CANCELLED)
        assert await tx.requests.add(req("r-77777777")) is Inserted.OK  # the rule is about pending ones only


# ---------------------------------------------------------------------------------------- IDs

async def test_an_id_collision_is_retried_with_a_fresh_id(core: Core) -> None:
    issued = {"r": ["r-AAAAAAAA", "r-AAAAAAAA", "r-BBBBBBBB"], "g": ["g-CCCCCCCC", "g-CCCCCCCC", "g-DDDDDDDD"]}
    core.deps.ids = lambda kind: issued[kind].pop(0)
    first = await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    assert first.ok and first.data == {"request_id": "r-AAAAAAAA", "grant_id": "g-CCCCCCCC"}
    await core.settle()
    assert (await grants.revoke(core.deps, "U0ALICE", "g-CCCCCCCC")).ok
    await core.settle()
    second = await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    assert second.ok, slack_text(second)
    assert second.data == {"request_id": "r-BBBBBBBB", "grant_id": "g-DDDDDDDD"}
    assert issued == {"r": [], "g": []}
    await core.settle()
    assert core.groups.emails(ACCOUNT, GROUP2) == ["alice@example.com"]


# ---------------------------------------------------------------------------------------- filing limit

async def test_one_person_filing_too_fast_is_told_when_they_may_file_again(core: Core) -> None:
    core.deps.filing_limit = FilingLimit(3, timedelta(minutes=10))
    first_at = core.clock.now()
    for _ in range(3):  # request, revoke, request again: each filing is counted, extensions too
        grant = await _active_grant(core, "shared-a", timedelta(hours=1))
        assert (await grants.revoke(core.deps, "U0ALICE", grant.id)).ok
        await core.settle()
        core.clock.advance(timedelta(minutes=1))
    calls = len(core.groups.calls)
    out = await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")
    again_at = (first_at + timedelta(minutes=10)).strftime("%H:%M:%S")
    assert not out.ok and out.code == "rate_limited"
    assert slack_text(out) == (f"you have filed 3 requests in the last 10m, as many as one person may; you can file "
                           f"again at {again_at} UTC (in 7m)")
    assert out.data == {"retry_after_s": 420}
    await core.settle()
    assert len(core.groups.calls) == calls  # nothing reached Cloudflare
    [refused] = await _audit(core, "request.refused")
    assert refused["details"]["code"] == "rate_limited" and refused["actor"] == "U0ALICE"
    other = await requests.submit(core.deps, "U0BOB", "shared-a", timedelta(hours=1), "")
    assert other.ok  # the limit is per person
    core.clock.advance(timedelta(minutes=7))
    assert (await requests.submit(core.deps, "U0ALICE", "shared-a", timedelta(hours=1), "")).ok


async def test_extensions_count_toward_the_filing_limit_and_the_default_is_ten_per_ten_minutes(core: Core) -> None:
    assert core.deps.filing_limit == FilingLimit(10, timedelta(minutes=10))
    core.deps.filing_limit = FilingLimit(2, timedelta(minutes=10))
    grant = await _active_grant(core, "capped", timedelta(hours=1))
    out = await requests.submit_extend(core.deps, "U0ALICE", grant.id, timedelta(minutes=30), "more")
    assert out.ok
    refused = await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "db")
    assert not refused.ok and refused.code == "rate_limited"


# ---------------------------------------------------------------------------------------- approval re-checks

async def test_a_requester_deactivated_after_filing_is_not_granted_and_everyone_is_told(core: Core) -> None:
    out = await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "incident")
    core.directory.add_user("U0ALICE", "alice@example.com", deleted=True)
    voted = await approval.vote(core.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)
    assert not voted.ok and voted.code == "no_identity"
    told = slack_text(voted)
    assert "closed as denied" in told and "deactivated" in told and "<@U0ALICE>" in told
    await core.settle()
    reqs, made = await _rows(core)
    assert made == [] and core.groups.emails(ACCOUNT, GROUP) == []
    async with core.deps.store.tx() as tx:
        req = await tx.requests.get(out.data["request_id"])
        assert req and req.state is RequestState.DENIED and req.votes == []
    assert {"user": "U0ALICE", "event": "denied", "request_id": req.id} in core.owed("notify.user")
    [refused] = await _audit(core, "approval.refused")
    assert refused["actor"] == "U0APPR01" and refused["details"]["code"] == "no_identity"
    [denied] = await _audit(core, "request.denied")
    assert denied["actor"] == "system" and "deactivated" in denied["details"]["reason"]


async def test_a_requester_removed_from_the_requesters_group_after_filing_is_not_granted(core: Core) -> None:
    out = await requests.submit(core.deps, "U0BOB", "restricted", timedelta(hours=1), "incident")
    assert out.ok, slack_text(out)
    core.directory.groups["S0ENG"] = set()
    voted = await approval.vote(core.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)
    assert not voted.ok and voted.code == "not_allowed"
    assert "<@U0BOB> is no longer on the list of people who may request `restricted`" in slack_text(voted)
    async with core.deps.store.tx() as tx:
        assert await tx.grants.find(requester="U0BOB") == []


async def test_a_requester_whose_slack_email_changed_is_not_granted_the_old_one(core: Core) -> None:
    out = await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "incident")
    core.directory.add_user("U0ALICE", "alice@elsewhere.example")
    voted = await approval.vote(core.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)
    assert not voted.ok and voted.code == "email_changed" and "alice@elsewhere.example" in slack_text(voted)


async def test_a_request_past_its_timeout_but_not_yet_swept_cannot_be_approved(core: Core) -> None:
    out = await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "incident")
    core.clock.advance(timedelta(hours=24))  # request_timeout: 24h; the sweep has not run
    voted = await approval.vote(core.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)
    assert not voted.ok and voted.code == "request_expired" and "closed as expired" in slack_text(voted)
    async with core.deps.store.tx() as tx:
        req = await tx.requests.get(out.data["request_id"])
        assert req and req.state is RequestState.EXPIRED and await tx.grants.find() == []
    assert len(await _audit(core, "request.expired")) == 1
    assert [r["details"]["code"] for r in await _audit(core, "approval.refused")] == ["request_expired"]


async def test_a_failed_profile_lookup_at_approval_changes_nothing_and_says_try_again(
        core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    out = await requests.submit(core.deps, "U0ALICE", "prod-db", timedelta(hours=1), "incident")

    async def down(user_id: str) -> dict:
        raise TransientError("Slack is down")
    monkeypatch.setattr(core.directory, "user_profile", down)
    voted = await approval.vote(core.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)
    assert not voted.ok and voted.code == "lookup_failed" and "try again" in slack_text(voted)
    async with core.deps.store.tx() as tx:
        req = await tx.requests.get(out.data["request_id"])
        assert req and req.state is RequestState.PENDING and req.votes == []
    monkeypatch.undo()
    assert (await approval.vote(core.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)).code == "approved"


async def test_each_approval_of_a_two_approval_role_rechecks_the_requester(core: Core) -> None:
    out = await requests.submit(core.deps, "U0ALICE", "two-man", timedelta(hours=1), "rotate")
    assert (await approval.vote(core.deps, out.data["request_id"], "U0APPR01", VoteChoice.APPROVE)).code == "voted"
    core.directory.add_user("U0ALICE", "alice@example.com", is_restricted=True)
    voted = await approval.vote(core.deps, out.data["request_id"], "U0APPR02", VoteChoice.APPROVE)
    assert not voted.ok and voted.code == "no_identity" and "guest" in slack_text(voted)
    async with core.deps.store.tx() as tx:
        assert await tx.grants.find() == []


async def test_the_extension_itself_refuses_a_total_past_max_duration_and_a_moved_end(core: Core) -> None:
    grant = await _active_grant(core, "capped", timedelta(hours=3))
    out = await requests.submit_extend(core.deps, "U0ALICE", grant.id, timedelta(hours=1), "more")
    assert grant.expires_at and out.ok
    async with core.deps.store.tx() as tx:  # the end moved since it was read: compare-and-set says no
        assert not await tx.grants.extend(grant.id, grant.expires_at - timedelta(minutes=1),
                                         grant.expires_at + timedelta(hours=9), None)
        assert await tx.grants.extend(grant.id, grant.expires_at, grant.expires_at + timedelta(minutes=30), None)
    with pytest.raises(RuleConflict) as lost:  # 3h30m + 1h > 4h: refused under the grant's lock, rolled back
        async with core.deps.store.tx() as tx:
            req = await tx.requests.get(out.data["request_id"], lock=True)
            assert req is not None
            await approval.approve_in_tx(core.deps, tx, req, "U0APPR01")
    assert lost.value.decision.code == "duration_too_long" and "4h30m in all" in slack_text(lost.value.decision.refusal)
    assert _length(await _grant(core, grant.id)) == timedelta(hours=3, minutes=30)
    async with core.deps.store.tx() as tx:
        assert (await tx.requests.get(out.data["request_id"])).state is RequestState.PENDING  # type: ignore[union-attr]
