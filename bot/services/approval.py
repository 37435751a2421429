"""Votes on requests, and what happens when a request is approved."""

from __future__ import annotations

from bot.domain.audit import AuditEvent
from bot.domain.durations import format_duration
from bot.domain.ids import new_grant_id
from bot.domain.model import (
    AccessRequest,
    Grant,
    GrantState,
    RequestKind,
    RequestState,
    Vote,
    VoteChoice,
    warn_time,
)
from bot.domain.policy import evaluate_vote
from bot.services.context import Deps, Outcome, owe_home_refresh, record
from bot.storage.store import LANE_CF_ADD, LANE_CF_REMOVE, Tx


def sync_key(account_id: str, group_id: str) -> str:
    """The outbox key (and lock name) of one Cloudflare group."""
    return f"cf:{account_id}:{group_id}"


async def owe_group_sync(tx: Tx, account_id: str, group_id: str, *, removal: bool = False) -> None:
    """Owe a read-modify-write of the group (batched with whatever else is due on it); a removal is
    claimed in the most urgent outbox lane, ahead of adds and of every Slack notice."""
    await tx.enqueue("cf.sync", {"account_id": account_id, "group_id": group_id},
                     key=sync_key(account_id, group_id), lane=LANE_CF_REMOVE if removal else LANE_CF_ADD)


async def approve_in_tx(deps: Deps, tx: Tx, req: AccessRequest, actor: str, *, auto: bool = False) -> Grant:
    """Mark a pending request approved and create (or extend) its grant, inside the caller's transaction."""
    now = deps.clock.now()
    role = deps.policy.role(req.role)
    assert role is not None
    moved = await tx.move_request(req.id, RequestState.PENDING, RequestState.APPROVED, decided_by=actor,
                                  decided_at=now)
    if not moved:
        raise RuntimeError(f"request {req.id} was not pending")
    await record(deps, tx, AuditEvent(actor, "request.approved", request_id=req.id, role=req.role,
                                      subject=req.email, grant_id=req.grant_id,
                                      details={"auto": auto, "approvers": sorted(req.approvals())}))
    await owe_home_refresh(tx, req.requester, approvers_of=None if auto else req.id)
    if req.kind is RequestKind.EXTEND and req.grant_id:
        grant = await tx.grant(req.grant_id, lock=True)
        assert grant is not None
        if grant.state is GrantState.ACTIVE and grant.expires_at and grant.granted_at:
            new_expiry = grant.expires_at + req.duration
            await tx.update_grant(grant.id, GrantState.ACTIVE, expires_at=new_expiry,
                                  warn_at=warn_time(new_expiry, role.warn_before, now), warned=False)
            await record(deps, tx, AuditEvent(actor, "grant.extended", request_id=req.id, grant_id=grant.id,
                                              role=grant.role, subject=grant.email,
                                              details={"by": format_duration(req.duration),
                                                       "expires_at": new_expiry.isoformat()}))
            await tx.enqueue("notify.user", {"user": req.requester, "event": "extended", "grant_id": grant.id,
                                             "request_id": req.id}, key="slack")
            await tx.enqueue("notify.thread", {"request_id": grant.request_id, "event": "extended",
                                               "grant_id": grant.id}, key="slack")
        await tx.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
        return grant
    grant = Grant(
        id=new_grant_id(), request_id=req.id, role=role.name, requester=req.requester, email=req.email,
        account_id=role.account_id, group_id=role.group_id, duration=req.duration, created_at=now,
        revoke_sessions=role.revoke_sessions,
    )
    await tx.add_grant(grant)
    await owe_group_sync(tx, grant.account_id, grant.group_id)
    if not auto:
        await tx.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
        await tx.enqueue("notify.approvers", {"request_id": req.id, "event": "approved", "except": actor},
                         key="slack")
    return grant


async def vote(deps: Deps, request_id: str, voter: str, choice: VoteChoice, note: str = "") -> Outcome:
    """An approver clicks Approve or Deny: every click rule of spec §3, one consistent outcome under races."""
    async with deps.store.tx() as tx:
        req = await tx.request(request_id)
        if req is None:  # a forged button value or a mistyped ID
            await record(deps, tx, AuditEvent(voter, "approval.refused", request_id=request_id[:16],
                                              details={"code": "unknown_request", "choice": choice.value}))
            return Outcome(False, f"there is no request `{request_id[:16]}`; `/access pending` shows those "
                                  "waiting for you", "unknown_request")
    role = deps.policy.role(req.role)
    groups = frozenset()
    if role and role.approver_groups and voter not in role.approver_users:
        groups = await deps.directory.user_groups_of(voter, role.approver_groups)
    async with deps.store.tx() as tx:
        req = await tx.request(request_id, lock=True)
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
        v = Vote(req.id, voter, choice, deps.clock.now())
        if not await tx.add_vote(v):
            await record(deps, tx, AuditEvent(voter, "approval.refused", **base,
                                              details={"code": "already_voted", "choice": choice.value}))
            return Outcome(False, "your vote on this request is already counted", "already_voted")
        req.votes.append(v)
        await record(deps, tx, AuditEvent(voter, "request.vote", **base,
                                          details={"choice": choice.value, "note": note[:500],
                                                   "approvals": len(req.approvals()),
                                                   "required": role.approvals_required}))
        if choice is VoteChoice.DENY:
            await tx.move_request(req.id, RequestState.PENDING, RequestState.DENIED, decided_by=voter,
                                  decided_at=deps.clock.now(), decision_note=note[:500])
            await record(deps, tx, AuditEvent(voter, "request.denied", **base, details={"note": note[:500]}))
            await tx.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
            await tx.enqueue("notify.user", {"user": req.requester, "event": "denied", "request_id": req.id},
                             key="slack")
            await tx.enqueue("notify.approvers", {"request_id": req.id, "event": "denied", "except": voter},
                             key="slack")
            await owe_home_refresh(tx, req.requester, approvers_of=req.id)
            return Outcome(True, f"You denied `{req.id}`.", "denied")
        if len(req.approvals()) >= role.approvals_required:
            await approve_in_tx(deps, tx, req, voter)
            return Outcome(True, f"You approved `{req.id}`; access is being applied.", "approved")
        await tx.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
        missing = role.approvals_required - len(req.approvals())
        return Outcome(True, f"Your approval of `{req.id}` is counted; {missing} more needed.", "voted")
