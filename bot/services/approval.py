"""Votes on requests, and what happens when a request is approved."""

from __future__ import annotations

from bot.domain.audit import AuditEvent
from bot.domain.durations import format_duration
from bot.domain.effects import NotifyApprovers, NotifyThread, NotifyUser, RefreshApprovalMessage, SyncGroup, group_key
from bot.domain.incident import role_for
from bot.domain.model import (
    AccessRequest,
    Grant,
    GrantState,
    OnCallApprover,
    RequestKind,
    RequestState,
    Vote,
    VoteChoice,
    extension_total,
    warn_time,
)
from bot.domain.outcomes import Approved, Denied, Outcome, Refused, Voted
from bot.domain.policy import Decision, Role, already_granted, evaluate_vote, extension_too_long
from bot.domain.unit_of_work import UnitOfWork
from bot.domain.wording import explain
from bot.services import oncall
from bot.services.checks import Requester, check, look_up
from bot.services.context import Deps, RuleConflict, insert_grant, owe_home_refresh, record


def sync_key(account_id: str, group_id: str) -> str:
    """The outbox key (and lock name) of one Cloudflare group."""
    return group_key(account_id, group_id)


async def owe_group_sync(tx: UnitOfWork, account_id: str, group_id: str, *, removal: bool = False) -> None:
    """Owe a read-modify-write of the group (batched with whatever else is due on it); a removal is
    claimed in the most urgent outbox lane, ahead of adds and of every Slack notice."""
    await tx.outbox.owe(SyncGroup(account_id, group_id, removal=removal))


async def approve_in_tx(deps: Deps, tx: UnitOfWork, req: AccessRequest, actor: str,
                        *, auto: bool = False, details: dict | None = None) -> Grant | None:
    """Mark a pending request approved and create (or extend) its grant, inside the caller's transaction;
    a request whose scheduled start is still ahead is approved ahead (`scheduled`, no grant yet: None).

    The database has the last word: a second live grant of the role (a race the checks lost) and an
    extension past `max_duration` (checked again here, under the grant's row lock, against the end it
    moves) raise RuleConflict, and the caller's transaction is rolled back."""
    now = deps.clock.now()
    role = deps.policy.role(req.role)
    assert role is not None
    if req.starts_at is not None and req.starts_at > now and req.kind is RequestKind.NEW:
        await _schedule(deps, tx, req, actor, auto)
        return None
    moved = await tx.requests.move(req.id, RequestState.PENDING, RequestState.APPROVED, decided_by=actor,
                                  decided_at=now)
    if not moved:
        raise RuntimeError(f"request {req.id} was not pending")
    await record(deps, tx, AuditEvent(actor, "request.approved", request_id=req.id, role=req.role,
                                      subject=req.email, grant_id=req.grant_id,
                                      details={"auto": auto, "approvers": sorted(req.approvals()),
                                               **(details or {})}))
    await owe_home_refresh(tx, req.requester, approvers_of=None if auto else req.id)
    if req.kind is RequestKind.EXTEND and req.grant_id:
        return await _extend(deps, tx, req, actor)
    grant = await make_grant(deps, tx, req, role)
    if not auto:
        await tx.outbox.owe(RefreshApprovalMessage(req.id))
        await tx.outbox.owe(NotifyApprovers(req.id, "approved", except_=actor))
    return grant


async def make_grant(deps: Deps, tx: UnitOfWork, req: AccessRequest, role: Role) -> Grant:
    """Insert the grant of an approved request and owe its group sync (its time runs from the apply);
    RuleConflict when the person already holds the role."""
    grant = Grant(
        id="", request_id=req.id, role=role.name, requester=req.requester, email=req.email,
        account_id=role.account_id, group_id=role.target, duration=req.duration, created_at=deps.clock.now(),
        revoke_sessions=role.revoke_sessions,
    )
    await insert_grant(deps, tx, grant, already_granted(role))
    await owe_group_sync(tx, grant.account_id, grant.group_id)
    return grant


async def _schedule(deps: Deps, tx: UnitOfWork, req: AccessRequest, actor: str, auto: bool) -> None:
    """Approve a request ahead of its start: it waits as `scheduled` and the scheduler makes its grant then."""
    if not await tx.requests.move(req.id, RequestState.PENDING, RequestState.SCHEDULED, decided_by=actor,
                                  decided_at=deps.clock.now()):
        raise RuntimeError(f"request {req.id} was not pending")
    starts = req.starts_at.isoformat() if req.starts_at else None
    base = dict(request_id=req.id, role=req.role, subject=req.email)
    await record(deps, tx, AuditEvent(actor, "request.approved", **base,
                                      details={"auto": auto, "approvers": sorted(req.approvals()),
                                               "starts_at": starts}))
    await record(deps, tx, AuditEvent("system", "grant.scheduled", **base,
                                      details={"starts_at": starts, "duration": format_duration(req.duration)}))
    await owe_home_refresh(tx, req.requester, approvers_of=None if auto else req.id)
    if not auto:
        await tx.outbox.owe(RefreshApprovalMessage(req.id))
        await tx.outbox.owe(NotifyApprovers(req.id, "approved", except_=actor))
        await tx.outbox.owe(NotifyUser(req.requester, "scheduled", request_id=req.id))


async def _extend(deps: Deps, tx: UnitOfWork, req: AccessRequest, actor: str) -> Grant:
    """Move the grant's end by the extension, if the total from its start stays within `max_duration`."""
    now = deps.clock.now()
    role = deps.policy.role(req.role)
    assert role is not None and req.grant_id
    grant = await tx.grants.get(req.grant_id, lock=True)
    span = extension_total(grant, req.duration) if grant and grant.state is GrantState.ACTIVE else None
    if grant is None or span is None or grant.expires_at is None:
        raise RuleConflict(Decision.no("not_extendable", "no_longer_active", grant_id=req.grant_id))
    total, new_expiry = span
    if total > role.max_duration:
        raise RuleConflict(extension_too_long(role, total))
    if not await tx.grants.extend(grant.id, grant.expires_at, new_expiry,
                                 warn_time(new_expiry, role.warn_before, now)):
        raise RuleConflict(Decision.no("not_extendable", "grant_moved", grant_id=grant.id))
    await record(deps, tx, AuditEvent(actor, "grant.extended", request_id=req.id, grant_id=grant.id,
                                      role=grant.role, subject=grant.email,
                                      details={"by": format_duration(req.duration), "total": format_duration(total),
                                               "expires_at": new_expiry.isoformat()}))
    await tx.outbox.owe(NotifyUser(req.requester, "extended", grant_id=grant.id, request_id=req.id))
    await tx.outbox.owe(NotifyThread(grant.request_id, "extended", grant_id=grant.id))
    await tx.outbox.owe(RefreshApprovalMessage(req.id))
    await tx.outbox.owe(RefreshApprovalMessage(grant.request_id))  # the first message follows its grant
    return grant


async def close_expired(deps: Deps, tx: UnitOfWork, req: AccessRequest) -> bool:
    """Close a pending request whose `request_timeout` has passed, and tell everyone; False if not pending."""
    now = deps.clock.now()
    if not await tx.requests.move(req.id, RequestState.PENDING, RequestState.EXPIRED,
                                 decided_by="system", decided_at=now):
        return False
    await record(deps, tx, AuditEvent("system", "request.expired", request_id=req.id, role=req.role,
                                      subject=req.email, grant_id=req.grant_id))
    await tx.outbox.owe(RefreshApprovalMessage(req.id))
    await tx.outbox.owe(NotifyUser(req.requester, "request_expired", request_id=req.id))
    await tx.outbox.owe(NotifyApprovers(req.id, "expired"))
    await owe_home_refresh(tx, req.requester, approvers_of=req.id)
    return True


async def _deny_on_recheck(deps: Deps, tx: UnitOfWork, req: AccessRequest, voter: str, choice: VoteChoice,
                           decision: Decision) -> Refused:
    """The request fails a filing check now: close it as denied (by the system, with the reason), audit
    both the refused click and the denial, tell the requester and the other approvers."""
    base = dict(request_id=req.id, role=req.role, subject=req.email, grant_id=req.grant_id)
    await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                      details={"code": decision.code, "choice": choice.value, "recheck": True}))
    await tx.requests.move(req.id, RequestState.PENDING, RequestState.DENIED, decided_by="system",
                          decided_at=deps.clock.now(), decision_note=explain(decision.refusal)[:500])
    await record(deps, tx, AuditEvent("system", "request.denied", **base,
                                      details={"code": decision.code, "reason": explain(decision.refusal),
                                               "recheck": True, "clicked_by": voter}))
    await tx.outbox.owe(RefreshApprovalMessage(req.id))
    await tx.outbox.owe(NotifyUser(req.requester, "denied", request_id=req.id))
    await tx.outbox.owe(NotifyApprovers(req.id, "denied", except_=voter))
    await owe_home_refresh(tx, req.requester, approvers_of=req.id)
    return Refused(decision.code, {"request_id": req.id, "requester": req.requester, "role": req.role},
                   "closed_on_recheck", decision.refusal)


async def vote(deps: Deps, request_id: str, voter: str, choice: VoteChoice, note: str = "") -> Outcome:
    """An approver clicks Approve or Deny: every click rule of spec §3, one consistent outcome under races.

    An Approve first runs again every check the filing ran (`bot.services.checks.check`, the same
    function): a requester deleted, turned guest or removed from `requesters` since, or a request past
    its `request_timeout`, is never granted."""
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id)
        if req is None:  # a forged button value or a mistyped ID
            await record(deps, tx, AuditEvent(voter, "approval.refused", request_id=request_id[:16],
                                              details={"code": "unknown_request", "choice": choice.value}))
            return Refused("unknown_request", {"request_id": request_id}, "no_such_request")
        if not req.is_open:  # decided for good: no lock, no second transaction (a click on an old message)
            return await _already_decided(deps, tx, req, voter, choice)
    role = deps.policy.role(req.role)
    groups = frozenset()
    # the user groups of escalate_to are looked up too: the request may escalate before the click's transaction
    every = role.escalated() if role else None
    if every and every.approver_groups and voter not in every.approver_users:
        groups = await deps.directory.user_groups_of(voter, every.approver_groups)
    on_call = await oncall.voter_status(deps, req, role, voter, groups) if role and req.is_open else ("", None)
    who: Requester | None = None
    if role and choice is VoteChoice.APPROVE and req.is_open and evaluate_vote(
            role_for(role, req), voter, req.requester, groups, on_call=on_call[0] == "on_call").allowed:
        who = await look_up(deps, req.requester, role, fresh=True)
    try:
        return await _vote_in_tx(deps, request_id, voter, choice, note, role, groups, who, on_call)
    except RuleConflict as lost:
        async with deps.store.tx() as tx:
            await record(deps, tx, AuditEvent(voter, "approval.refused", request_id=req.id, role=req.role,
                                              subject=req.email, grant_id=req.grant_id,
                                              details={"code": lost.decision.code, "choice": choice.value}))
        return Refused(lost.decision.code, {"request_id": req.id}, "cannot_approve_now", lost.decision.refusal)


async def _already_decided(deps: Deps, tx: UnitOfWork, req: AccessRequest, voter: str,
                           choice: VoteChoice) -> Refused:
    """A vote on a request no longer open: audited as refused, and the outcome says who decided it."""
    await record(deps, tx, AuditEvent(voter, "approval.refused", request_id=req.id, role=req.role, subject=req.email,
                                      details={"code": "already_decided", "state": req.state.value,
                                               "choice": choice.value}))
    return Refused("already_decided", {"request_id": req.id, "state": req.state.value,
                                       "decided_by": req.decided_by})


async def _vote_in_tx(deps: Deps, request_id: str, voter: str, choice: VoteChoice, note: str, role: Role | None,
                      groups: frozenset[str], who: Requester | None,
                      on_call: tuple[str, OnCallApprover | None]) -> Outcome:
    """The vote's transaction, under the request's row lock; `on_call` is what PagerDuty said just now about a
    voter made an approver by being on call (see `bot.services.oncall.voter_status`)."""
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id, lock=True)
        assert req is not None
        base = dict(request_id=req.id, role=req.role, subject=req.email)
        if not req.is_open:
            return await _already_decided(deps, tx, req, voter, choice)
        if role is None:
            await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                              details={"code": "unknown_role"}))
            return Refused("unknown_role", {"role": req.role}, "role_removed")
        role = role_for(role, req)  # escalated: its escalate_to decide too (as the request is now, under its lock)
        decision = evaluate_vote(role, voter, req.requester, groups, on_call=on_call[0] == "on_call")
        if decision.code == "not_an_approver" and on_call[1] is not None:
            decision = Decision.no("no_longer_on_call", role=role.name, schedule=on_call[1].schedule_id,
                                   unavailable=on_call[0] == "unavailable")
        if not decision.allowed:
            await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                              details={"code": decision.code, "choice": choice.value}))
            return decision.refusal
        if req.expires_at <= deps.clock.now():
            # Past its request_timeout, not yet swept: it is closed now, as the sweep would close it.
            await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                              details={"code": "request_expired", "choice": choice.value}))
            await close_expired(deps, tx, req)
            return Refused("request_expired", {"request_id": req.id, "requester": req.requester}, "click_too_late")
        if choice is VoteChoice.APPROVE:
            recheck = await check(deps, tx, req, who) if who else Decision.no("lookup_failed", "requester_unknown")
            if recheck.code == "lookup_failed":
                await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                                  details={"code": "lookup_failed", "choice": choice.value}))
                return Refused("lookup_failed", {"request_id": req.id}, "recheck_failed", recheck.refusal)
            if not recheck.allowed:
                return await _deny_on_recheck(deps, tx, req, voter, choice, recheck)
        return await _count_vote(deps, tx, req, role, voter, choice, note)


async def _count_vote(deps: Deps, tx: UnitOfWork, req: AccessRequest, role: Role, voter: str, choice: VoteChoice,
                      note: str) -> Outcome:
    """Count a vote that passed every check: a deny closes the request, enough approvals approve it."""
    base = dict(request_id=req.id, role=req.role, subject=req.email)
    v = Vote(req.id, voter, choice, deps.clock.now())
    if not await tx.requests.add_vote(v):
        await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                          details={"code": "already_voted", "choice": choice.value}))
        return Refused("already_voted")
    req.votes.append(v)
    await record(deps, tx, AuditEvent(voter, "request.vote", **base,
                                      details={"choice": choice.value, "note": note[:500],
                                               "approvals": len(req.approvals()),
                                               "required": role.approvals_required}))
    if choice is VoteChoice.DENY:
        await tx.requests.move(req.id, RequestState.PENDING, RequestState.DENIED, decided_by=voter,
                               decided_at=deps.clock.now(), decision_note=note[:500])
        await record(deps, tx, AuditEvent(voter, "request.denied", **base, details={"note": note[:500]}))
        await tx.outbox.owe(RefreshApprovalMessage(req.id))
        await tx.outbox.owe(NotifyUser(req.requester, "denied", request_id=req.id))
        await tx.outbox.owe(NotifyApprovers(req.id, "denied", except_=voter))
        await owe_home_refresh(tx, req.requester, approvers_of=req.id)
        return Denied(req.id)
    if len(req.approvals()) >= role.approvals_required:
        grant = await approve_in_tx(deps, tx, req, voter)
        return Approved(req.id, req.starts_at if grant is None else None)
    await tx.outbox.owe(RefreshApprovalMessage(req.id))
    return Voted(req.id, role.approvals_required - len(req.approvals()))
