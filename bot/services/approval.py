"""Votes on requests, and what happens when a request is approved."""

from __future__ import annotations

from bot.domain.audit import AuditEvent
from bot.domain.durations import format_duration
from bot.domain.lanes import LANE_CF_ADD, LANE_CF_REMOVE
from bot.domain.model import (
    AccessRequest,
    Grant,
    GrantState,
    RequestKind,
    RequestState,
    Vote,
    VoteChoice,
    extension_total,
    warn_time,
)
from bot.domain.policy import Decision, Role, already_granted, evaluate_vote, extension_too_long
from bot.domain.unit_of_work import UnitOfWork
from bot.services.checks import Requester, check, for_approver, look_up
from bot.services.context import Deps, Outcome, RuleConflict, insert_grant, owe_home_refresh, record


def sync_key(account_id: str, group_id: str) -> str:
    """The outbox key (and lock name) of one Cloudflare group."""
    return f"cf:{account_id}:{group_id}"


async def owe_group_sync(tx: UnitOfWork, account_id: str, group_id: str, *, removal: bool = False) -> None:
    """Owe a read-modify-write of the group (batched with whatever else is due on it); a removal is
    claimed in the most urgent outbox lane, ahead of adds and of every Slack notice."""
    await tx.outbox.enqueue("cf.sync", {"account_id": account_id, "group_id": group_id},
                            key=sync_key(account_id, group_id), lane=LANE_CF_REMOVE if removal else LANE_CF_ADD)


async def approve_in_tx(deps: Deps, tx: UnitOfWork, req: AccessRequest, actor: str, *, auto: bool = False) -> Grant:
    """Mark a pending request approved and create (or extend) its grant, inside the caller's transaction.

    The database has the last word: a second live grant of the role (a race the checks lost) and an
    extension past `max_duration` (checked again here, under the grant's row lock, against the end it
    moves) raise RuleConflict, and the caller's transaction is rolled back."""
    now = deps.clock.now()
    role = deps.policy.role(req.role)
    assert role is not None
    moved = await tx.requests.move(req.id, RequestState.PENDING, RequestState.APPROVED, decided_by=actor,
                                   decided_at=now)
    if not moved:
        raise RuntimeError(f"request {req.id} was not pending")
    await record(deps, tx, AuditEvent(actor, "request.approved", request_id=req.id, role=req.role,
                                      subject=req.email, grant_id=req.grant_id,
                                      details={"auto": auto, "approvers": sorted(req.approvals())}))
    await owe_home_refresh(tx, req.requester, approvers_of=None if auto else req.id)
    if req.kind is RequestKind.EXTEND and req.grant_id:
        return await _extend(deps, tx, req, actor)
    grant = Grant(
        id="", request_id=req.id, role=role.name, requester=req.requester, email=req.email,
        account_id=role.account_id, group_id=role.group_id, duration=req.duration, created_at=now,
        revoke_sessions=role.revoke_sessions,
    )
    await insert_grant(deps, tx, grant, already_granted(role))
    await owe_group_sync(tx, grant.account_id, grant.group_id)
    if not auto:
        await tx.outbox.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
        await tx.outbox.enqueue("notify.approvers", {"request_id": req.id, "event": "approved", "except": actor},
                                key="slack")
    return grant


async def _extend(deps: Deps, tx: UnitOfWork, req: AccessRequest, actor: str) -> Grant:
    """Move the grant's end by the extension, if the total from its start stays within `max_duration`."""
    now = deps.clock.now()
    role = deps.policy.role(req.role)
    assert role is not None and req.grant_id
    grant = await tx.grants.get(req.grant_id, lock=True)
    span = extension_total(grant, req.duration) if grant and grant.state is GrantState.ACTIVE else None
    if grant is None or span is None or grant.expires_at is None:
        raise RuleConflict(Decision.no("not_extendable", f"grant `{req.grant_id}` is no longer active; "
                                                         "only an active grant can be extended"))
    total, new_expiry = span
    if total > role.max_duration:
        raise RuleConflict(extension_too_long(role, total))
    if not await tx.grants.extend(grant.id, grant.expires_at, new_expiry,
                                  warn_time(new_expiry, role.warn_before, now)):
        raise RuleConflict(Decision.no("not_extendable", f"grant `{grant.id}` changed while the extension was "
                                                         "being approved; ask again"))
    await record(deps, tx, AuditEvent(actor, "grant.extended", request_id=req.id, grant_id=grant.id,
                                      role=grant.role, subject=grant.email,
                                      details={"by": format_duration(req.duration), "total": format_duration(total),
                                               "expires_at": new_expiry.isoformat()}))
    await tx.outbox.enqueue("notify.user", {"user": req.requester, "event": "extended", "grant_id": grant.id,
                                            "request_id": req.id}, key="slack")
    await tx.outbox.enqueue("notify.thread", {"request_id": grant.request_id, "event": "extended",
                                              "grant_id": grant.id}, key="slack")
    await tx.outbox.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
    return grant


async def close_expired(deps: Deps, tx: UnitOfWork, req: AccessRequest) -> bool:
    """Close a pending request whose `request_timeout` has passed, and tell everyone; False if not pending."""
    now = deps.clock.now()
    if not await tx.requests.move(req.id, RequestState.PENDING, RequestState.EXPIRED,
                                  decided_by="system", decided_at=now):
        return False
    await record(deps, tx, AuditEvent("system", "request.expired", request_id=req.id, role=req.role,
                                      subject=req.email, grant_id=req.grant_id))
    await tx.outbox.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
    await tx.outbox.enqueue("notify.user", {"user": req.requester, "event": "request_expired",
                                            "request_id": req.id}, key="slack")
    await tx.outbox.enqueue("notify.approvers", {"request_id": req.id, "event": "expired"}, key="slack")
    await owe_home_refresh(tx, req.requester, approvers_of=req.id)
    return True


async def _deny_on_recheck(deps: Deps, tx: UnitOfWork, req: AccessRequest, voter: str, choice: VoteChoice,
                           decision: Decision) -> Outcome:
    """The request fails a filing check now: close it as denied (by the system, with the reason), audit
    both the refused click and the denial, tell the requester and the other approvers."""
    base = dict(request_id=req.id, role=req.role, subject=req.email, grant_id=req.grant_id)
    await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                      details={"code": decision.code, "choice": choice.value, "recheck": True}))
    await tx.requests.move(req.id, RequestState.PENDING, RequestState.DENIED, decided_by="system",
                           decided_at=deps.clock.now(), decision_note=decision.reason[:500])
    await record(deps, tx, AuditEvent("system", "request.denied", **base,
                                      details={"code": decision.code, "reason": decision.reason, "recheck": True,
                                               "clicked_by": voter}))
    await tx.outbox.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
    await tx.outbox.enqueue("notify.user", {"user": req.requester, "event": "denied", "request_id": req.id},
                            key="slack")
    await tx.outbox.enqueue("notify.approvers", {"request_id": req.id, "event": "denied", "except": voter},
                            key="slack")
    await owe_home_refresh(tx, req.requester, approvers_of=req.id)
    return Outcome(False, f"Request `{req.id}` was checked again before approving and no longer passes, so it is "
                          f"closed as denied and nothing was granted: {for_approver(decision, req)}. "
                          f"<@{req.requester}> is told why.", decision.code)


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
            return Outcome(False, f"there is no request `{request_id[:16]}`; `/access pending` shows those "
                                  "waiting for you", "unknown_request")
    role = deps.policy.role(req.role)
    groups = frozenset()
    if role and role.approver_groups and voter not in role.approver_users:
        groups = await deps.directory.user_groups_of(voter, role.approver_groups)
    who: Requester | None = None
    if role and choice is VoteChoice.APPROVE and req.is_open and evaluate_vote(role, voter, req.requester,
                                                                               groups).allowed:
        who = await look_up(deps, req.requester, role, fresh=True)
    try:
        return await _vote_in_tx(deps, request_id, voter, choice, note, role, groups, who)
    except RuleConflict as lost:
        async with deps.store.tx() as tx:
            await record(deps, tx, AuditEvent(voter, "approval.refused", request_id=req.id, role=req.role,
                                              subject=req.email, grant_id=req.grant_id,
                                              details={"code": lost.decision.code, "choice": choice.value}))
        return Outcome(False, f"request `{req.id}` cannot be approved now: {lost.decision.reason}",
                       lost.decision.code)


async def _vote_in_tx(deps: Deps, request_id: str, voter: str, choice: VoteChoice, note: str, role: Role | None,
                      groups: frozenset[str], who: Requester | None) -> Outcome:
    """The vote's transaction, under the request's row lock."""
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id, lock=True)
        assert req is not None
        base = dict(request_id=req.id, role=req.role, subject=req.email)
        if not req.is_open:
            await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                              details={"code": "already_decided", "state": req.state.value,
                                                       "choice": choice.value}))
            by = f" by <@{req.decided_by}>" if req.decided_by and req.decided_by not in ("system",) else ""
            return Outcome(False, f"request `{req.id}` is already {req.state.value}{by}; your click changed "
                                  "nothing", "already_decided")
        if role is None:
            await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                              details={"code": "unknown_role"}))
            return Outcome(False, f"the role `{req.role}` is no longer in the policy", "unknown_role")
        decision = evaluate_vote(role, voter, req.requester, groups)
        if not decision.allowed:
            await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                              details={"code": decision.code, "choice": choice.value}))
            return Outcome(False, decision.reason, decision.code)
        if req.expires_at <= deps.clock.now():
            # Past its request_timeout, not yet swept: it is closed now, as the sweep would close it.
            await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                              details={"code": "request_expired", "choice": choice.value}))
            await close_expired(deps, tx, req)
            return Outcome(False, f"request `{req.id}` timed out without a decision, so your click changed nothing; "
                                  f"it is now closed as expired and <@{req.requester}> is told", "request_expired")
        if choice is VoteChoice.APPROVE:
            recheck = await check(deps, tx, req, who) if who else Decision.no(
                "lookup_failed", "the requester could not be looked up")
            if recheck.code == "lookup_failed":
                await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                                  details={"code": "lookup_failed", "choice": choice.value}))
                return Outcome(False, f"I could not check request `{req.id}` again before approving it "
                                      f"({recheck.reason}); nothing changed, please try again in a minute",
                               "lookup_failed")
            if not recheck.allowed:
                return await _deny_on_recheck(deps, tx, req, voter, choice, recheck)
        v = Vote(req.id, voter, choice, deps.clock.now())
        if not await tx.requests.add_vote(v):
            await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                              details={"code": "already_voted", "choice": choice.value}))
            return Outcome(False, "your vote on this request is already counted", "already_voted")
        req.votes.append(v)
        await record(deps, tx, AuditEvent(voter, "request.vote", **base,
                                          details={"choice": choice.value, "note": note[:500],
                                                   "approvals": len(req.approvals()),
                                                   "required": role.approvals_required}))
        if choice is VoteChoice.DENY:
            await tx.requests.move(req.id, RequestState.PENDING, RequestState.DENIED, decided_by=voter,
                                   decided_at=deps.clock.now(), decision_note=note[:500])
            await record(deps, tx, AuditEvent(voter, "request.denied", **base, details={"note": note[:500]}))
            await tx.outbox.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
            await tx.outbox.enqueue("notify.user", {"user": req.requester, "event": "denied", "request_id": req.id},
                                    key="slack")
            await tx.outbox.enqueue("notify.approvers", {"request_id": req.id, "event": "denied", "except": voter},
                                    key="slack")
            await owe_home_refresh(tx, req.requester, approvers_of=req.id)
            return Outcome(True, f"You denied `{req.id}`.", "denied")
        if len(req.approvals()) >= role.approvals_required:
            await approve_in_tx(deps, tx, req, voter)
            return Outcome(True, f"You approved `{req.id}`; access is being applied.", "approved")
        await tx.outbox.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
        missing = role.approvals_required - len(req.approvals())
        return Outcome(True, f"Your approval of `{req.id}` is counted; {missing} more needed.", "voted")
