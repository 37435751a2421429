"""Filing, cancelling and timing out requests."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.audit import AuditEvent
from bot.domain.durations import format_duration
from bot.domain.effects import NotifyApprovers, PostApproval, RefreshApprovalMessage
from bot.domain.incident import role_for, with_timers
from bot.domain.limits import next_filing_at
from bot.domain.model import AccessRequest, RequestKind, RequestState
from bot.domain.outcomes import (
    AutoApproved,
    AutoExtended,
    AutoScheduled,
    Cancelled,
    ExtensionFiled,
    Filed,
    Outcome,
    Refused,
    ScheduledFiled,
)
from bot.domain.policy import Decision, Role, already_pending_request, extension_pending
from bot.domain.start_times import zone_of
from bot.domain.unit_of_work import UnitOfWork
from bot.domain.wording import explain
from bot.services import oncall
from bot.services.approval import approve_in_tx, close_expired
from bot.services.checks import Requester, check, look_up
from bot.services.context import Deps, RuleConflict, insert_request, owe_home_refresh, record
from bot.services.scheduled import read_start

MAX_REASON = 40_000  # Slack's own limit on message text; longer text cannot come from Slack


async def audit_refusal(deps: Deps, actor: str, code: str, reason: str, *, role: str | None = None,
                        details: dict | None = None) -> None:
    """Audit a refused request: its code and the words the person was told."""
    async with deps.store.tx() as tx:
        await record(deps, tx, AuditEvent(actor, "request.refused", role=role,
                                          details={"code": code, "reason": reason, **(details or {})}))


async def refuse(deps: Deps, actor: str, refused: Refused, *, role: str | None = None,
                 details: dict | None = None) -> Refused:
    """Audit a refused request (its code and plain words) and return the refusal."""
    await audit_refusal(deps, actor, refused.code, explain(refused), role=role, details=details)
    return refused


async def _refused(deps: Deps, tx: UnitOfWork, req: AccessRequest, decision: Decision, **details: object) -> Refused:
    """Audit a refusal of a request about to be filed (inside the filing transaction) and return it."""
    refused = decision.refusal
    await record(deps, tx, AuditEvent(req.requester, "request.refused", role=req.role, subject=req.email,
                                      grant_id=req.grant_id,
                                      details={"code": decision.code, "reason": explain(refused),
                                               "duration": format_duration(req.duration), **details}))
    return refused


async def _over_limit(deps: Deps, tx: UnitOfWork, requester: str) -> tuple[Decision, int] | None:
    """The refusal (and the seconds to wait) when the person has filed as many requests as the filing
    limit allows in its window; counted from the requests table, so every replica sees the same count."""
    limit = deps.filing_limit
    if not limit.enabled:
        return None
    now = deps.clock.now()
    again = next_filing_at(limit, await tx.requests.filed_since(requester, now - limit.window), now)
    if again is None:
        return None
    wait = max(1, int((again - now).total_seconds() + 0.999))
    return Decision.no("rate_limited", count=limit.count, window=limit.window, again=again,
                       retry_after=timedelta(seconds=wait)), wait


async def _file(deps: Deps, role: Role, req: AccessRequest, who: Requester, conflict: Decision,
                source: str) -> Outcome:
    """The filing transaction shared by requests and extensions: the person's lock, the filing limit, the
    shared checks, the insert (the database refuses a duplicate a race let through), auto-approval (by the
    role, or by the requester being on call: PagerDuty is asked first, outside the transaction)."""
    extend = req.kind is RequestKind.EXTEND
    finding = await oncall.ask(deps, role, req.requester, req.email)
    try:
        async with deps.store.tx() as tx:
            await tx.lock_person(req.requester)
            limited = await _over_limit(deps, tx, req.requester)
            if limited is not None:
                return await _refused(deps, tx, req, limited[0], retry_after_s=limited[1])
            decision = await check(deps, tx, req, who)
            if not decision.allowed:
                return await _refused(deps, tx, req, decision)
            await insert_request(deps, tx, with_timers(role, req) if not role.auto_approve else req, conflict)
            details = {"duration": format_duration(req.duration), "reason": req.reason, "source": source}
            if extend:
                details["kind"] = "extend"
            if req.starts_at is not None:
                details["starts_at"] = req.starts_at.isoformat()
            await record(deps, tx, AuditEvent(req.requester, "request.created", request_id=req.id, role=role.name,
                                              grant_id=req.grant_id, subject=req.email, details=details))
            on_call = await oncall.settle_in_tx(deps, tx, req, finding)
            if role.auto_approve or on_call:
                grant = await approve_in_tx(deps, tx, req, "system", auto=True, details=on_call)
                if on_call:
                    await oncall.tell_requester_in_tx(tx, req, on_call)
                if grant is None:  # a scheduled start: approved now, made at the start
                    zone = zone_of(who.identity.tz)
                    return AutoScheduled(req.id, role.name, req.duration, req.starts_at or req.created_at,
                                         zone.name, zone.known)
                if extend:
                    return AutoExtended(req.id, grant.id, req.duration)
                return AutoApproved(req.id, grant.id, role.name, req.duration)
            await tx.outbox.owe(PostApproval(req.id))
            await owe_home_refresh(tx, req.requester, approvers_of=req.id)
    except RuleConflict as lost:
        # A concurrent filing got there first and the database refused this one: the same refusal the
        # checks give when they see it (the transaction is rolled back, nothing of this filing remains).
        async with deps.store.tx() as tx:
            return await _refused(deps, tx, req, lost.decision, race=True)
    if extend:
        return ExtensionFiled(req.id, req.grant_id or "", req.duration)
    if req.starts_at is not None:
        zone = zone_of(who.identity.tz)
        return ScheduledFiled(req.id, role.name, req.duration, role.approvals_required, req.starts_at, zone.name,
                              zone.known)
    return Filed(req.id, role.name, req.duration, role.approvals_required)


async def _identity_refusal(deps: Deps, requester: str, who: Requester, role: str) -> Refused:
    """Refuse (and audit) a filing by someone users.info says may not request, or could not be asked about."""
    code = "lookup_failed" if who.identity.transient else "no_identity"
    refused = Refused(code, who.identity.facts, "identity")
    return await refuse(deps, requester, refused, role=role, details={"identity": who.identity.code})


async def submit(deps: Deps, requester: str, role_name: str, duration: timedelta | None, reason: str,
                 *, source: str = "slack", start: str | None = None) -> Outcome:
    """File a request for a role (or grant it at once on an auto_approve role); `start` (the words after `at`,
    or an ISO 8601 time) schedules its start, read in the requester's Slack timezone."""
    reason = reason.strip()
    role = deps.policy.role(role_name)
    if role is None:
        refused = Refused("unknown_role", {"asked": role_name[:63], "roles": sorted(deps.policy.roles)},
                          "no_such_role")
        return await refuse(deps, requester, refused, details={"asked": role_name[:200]})
    if len(reason) > MAX_REASON:
        refused = Refused("reason_too_long", {"length": len(reason), "limit": MAX_REASON})
        return await refuse(deps, requester, refused, role=role.name)
    duration = duration if duration is not None else role.default_duration
    who = await look_up(deps, requester, role)
    if who.identity.email is None:
        return await _identity_refusal(deps, requester, who, role.name)
    now = deps.clock.now()
    starts_at = None
    if start is not None:
        starts_at = await read_start(deps, requester, role, start, zone_of(who.identity.tz))
        if isinstance(starts_at, Refused):
            return await refuse(deps, requester, starts_at, role=role.name, details={"start": start[:60]})
    # a scheduled request still undecided when its whole window has passed times out then
    timeout_at = min(now + role.request_timeout, starts_at + duration) if starts_at else now + role.request_timeout
    req = AccessRequest(id="", role=role.name, requester=requester, email=who.identity.email, duration=duration,
                        reason=reason, created_at=now, expires_at=timeout_at, starts_at=starts_at)
    return await _file(deps, role, req, who, already_pending_request(role), source)


async def submit_extend(deps: Deps, requester: str, grant_id: str, duration: timedelta, reason: str,
                        *, source: str = "slack") -> Outcome:
    """Ask for more time on an active grant; approved like a request, after the same checks."""
    reason = reason.strip()
    async with deps.store.tx() as tx:
        grant = await tx.grants.get(grant_id)
        if grant is None or grant.requester != requester:
            await record(deps, tx, AuditEvent(requester, "request.refused", grant_id=grant_id[:16],
                                              details={"code": "unknown_grant"}))
            return Refused("unknown_grant", {"grant_id": grant_id})
        role = deps.policy.role(grant.role)
        if role is None:
            refused = Refused("not_extendable", {"role": grant.role}, "role_removed")
            await record(deps, tx, AuditEvent(requester, "request.refused", grant_id=grant.id, role=grant.role,
                                              details={"code": "not_extendable", "reason": explain(refused)}))
            return refused
    who = await look_up(deps, requester, role)
    if who.identity.email is None:
        return await _identity_refusal(deps, requester, who, role.name)
    now = deps.clock.now()
    req = AccessRequest(id="", role=role.name, requester=requester, email=grant.email, duration=duration,
                        reason=reason[:MAX_REASON], created_at=now, expires_at=now + role.request_timeout,
                        kind=RequestKind.EXTEND, grant_id=grant.id)
    return await _file(deps, role, req, who, extension_pending(grant.id), source)


async def cancel(deps: Deps, user: str, request_id: str) -> Outcome:
    """Withdraw the caller's own pending request (or an approved one whose scheduled start has not come)."""
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id, lock=True)
        if req is None or req.requester != user:
            await record(deps, tx, AuditEvent(user, "request.refused", request_id=request_id[:16],
                                              details={"code": "unknown_request"}))
            return Refused("unknown_request", {"request_id": request_id})
        frm = RequestState.SCHEDULED if req.state is RequestState.SCHEDULED else RequestState.PENDING
        if not await tx.requests.move(req.id, frm, RequestState.CANCELLED,
                                     decided_by=user, decided_at=deps.clock.now()):
            return Refused("already_decided", {"request_id": req.id, "state": req.state.value}, "nothing_to_cancel")
        await record(deps, tx, AuditEvent(user, "request.cancelled", request_id=req.id, role=req.role,
                                          subject=req.email,
                                          details={"scheduled": True} if frm is RequestState.SCHEDULED else {}))
        await tx.outbox.owe(RefreshApprovalMessage(req.id))
        await tx.outbox.owe(NotifyApprovers(req.id, "cancelled", except_=user))
        await owe_home_refresh(tx, user, approvers_of=req.id)
    return Cancelled(req.id)


async def expire_request(deps: Deps, request_id: str) -> bool:
    """Time out a pending request whose `request_timeout` has passed; False when it was decided already."""
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id, lock=True)
        if req is None or req.expires_at > deps.clock.now():
            return False
        return await close_expired(deps, tx, req)


async def pending_for(deps: Deps, tx: UnitOfWork, user: str) -> list[AccessRequest]:
    """Pending requests this user could decide (listed approver or member of a listed user group). Only the
    requests of roles the user could approve once escalated (or is on call for) are read: not every pending
    request of a big deployment to keep a few."""
    in_groups: dict[tuple[str, ...], bool] = {}

    async def listed(role: Role) -> bool:
        """Whether the user is one of the role's approvers or in one of its approver user groups (each set of
        groups looked up once)."""
        if user in role.approver_users:
            return True
        if not role.approver_groups:
            return False
        if role.approver_groups not in in_groups:
            in_groups[role.approver_groups] = bool(await deps.directory.user_groups_of(user, role.approver_groups))
        return in_groups[role.approver_groups]

    on_call_for = await tx.requests.oncall_requests_of(user)
    roles = {name for name in await tx.requests.pending_roles()
             if (role := deps.policy.role(name)) is not None and await listed(role.escalated())}
    if not roles and not on_call_for:
        return []
    out = []
    for r in await tx.requests.pending(roles, on_call_for):
        role = deps.policy.role(r.role)
        if role is None or (r.requester == user and not role.allow_self_approval):
            continue
        # once escalated, its escalate_to may decide it too
        if r.id in on_call_for or await listed(role_for(role, r)):
            out.append(r)
    return out
