"""Filing, cancelling and timing out requests."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.audit import AuditEvent
from bot.domain.durations import format_duration
from bot.domain.ids import new_request_id
from bot.domain.model import AccessRequest, GrantState, RequestKind, RequestState
from bot.domain.policy import Decision, evaluate_request
from bot.services.approval import approve_in_tx
from bot.services.context import Deps, Outcome, owe_home_refresh, record
from bot.services.identity import requester_email
from bot.storage.store import Tx

MAX_REASON = 40_000  # Slack's own limit on message text; longer text cannot come from Slack


async def refuse(deps: Deps, actor: str, code: str, reason: str, *, role: str | None = None,
                 details: dict | None = None) -> Outcome:
    """Audit a refused request and return the refusal."""
    async with deps.store.tx() as tx:
        await record(deps, tx, AuditEvent(actor, "request.refused", role=role,
                                          details={"code": code, "reason": reason, **(details or {})}))
    return Outcome(False, reason, code)


async def submit(deps: Deps, requester: str, role_name: str, duration: timedelta | None, reason: str,
                 *, source: str = "slack") -> Outcome:
    """File a request for a role (or grant it at once on an auto_approve role)."""
    reason = reason.strip()
    role = deps.policy.role(role_name)
    if role is None:
        names = ", ".join(f"`{n}`" for n in sorted(deps.policy.roles)) or "none"
        return await refuse(deps, requester, "unknown_role",
                            f"there is no role `{role_name[:63]}`. Roles: {names} (`/access roles` shows them)",
                            details={"asked": role_name[:200]})
    if len(reason) > MAX_REASON:
        return await refuse(deps, requester, "reason_too_long",
                            f"the reason is {len(reason)} characters; keep it under {MAX_REASON}",
                            role=role.name)
    duration = duration if duration is not None else role.default_duration
    email, why_not = await requester_email(deps.directory, requester)
    if email is None:
        return await refuse(deps, requester, "no_identity", why_not or "", role=role.name)
    groups = frozenset()
    if role.requesters and requester not in role.requesters:
        groups = await deps.directory.user_groups_of(requester, tuple(a for a in role.requesters
                                                                      if a.startswith("S")))
    now = deps.clock.now()
    async with deps.store.tx() as tx:
        holds = await tx.live_grant_for(requester, role.name)
        pending = await tx.pending_request_for(requester, role.name)
        decision = evaluate_request(role, requester, duration, reason, groups,
                                    already_holds=holds is not None, already_pending=pending is not None)
        if not decision.allowed:
            await record(deps, tx, AuditEvent(requester, "request.refused", role=role.name, subject=email,
                                              details={"code": decision.code, "reason": decision.reason,
                                                       "duration": format_duration(duration)}))
            return Outcome(False, decision.reason, decision.code)
        req = AccessRequest(
            id=new_request_id(), role=role.name, requester=requester, email=email, duration=duration,
            reason=reason, created_at=now, expires_at=now + role.request_timeout,
        )
        await tx.add_request(req)
        await record(deps, tx, AuditEvent(requester, "request.created", request_id=req.id, role=role.name,
                                          subject=email, details={"duration": format_duration(duration),
                                                                  "reason": reason, "source": source}))
        if role.auto_approve:
            grant = await approve_in_tx(deps, tx, req, "system", auto=True)
            return Outcome(True, f"`{role.name}` for {format_duration(duration)} is approved automatically "
                                 f"(grant `{grant.id}`); I will message you once Cloudflare has applied it.",
                           data={"request_id": req.id, "grant_id": grant.id})
        await tx.enqueue("approval.post", {"request_id": req.id}, key="slack")
        await owe_home_refresh(tx, requester, approvers_of=req.id)
    return Outcome(True, f"Request `{req.id}` for `{role.name}` ({format_duration(duration)}) is waiting for "
                         f"{role.approvals_required} approval(s). `/access cancel {req.id}` withdraws it.",
                   data={"request_id": req.id})


async def submit_extend(deps: Deps, requester: str, grant_id: str, duration: timedelta, reason: str) -> Outcome:
    """Ask for more time on an active grant; approved like a request."""
    reason = reason.strip()
    now = deps.clock.now()
    async with deps.store.tx() as tx:
        grant = await tx.grant(grant_id)
        if grant is None or grant.requester != requester:
            await record(deps, tx, AuditEvent(requester, "request.refused", grant_id=grant_id[:16],
                                              details={"code": "unknown_grant"}))
            return Outcome(False, f"you have no grant `{grant_id[:16]}`; `/access list` shows yours", "unknown_grant")
        role = deps.policy.role(grant.role)
        if grant.state is not GrantState.ACTIVE or role is None:
            reason_text = (f"grant `{grant.id}` is {grant.state.value}; only an active grant can be extended"
                           if role else f"the role `{grant.role}` is no longer in the policy")
            await record(deps, tx, AuditEvent(requester, "request.refused", grant_id=grant.id, role=grant.role,
                                              details={"code": "not_extendable", "reason": reason_text}))
            return Outcome(False, reason_text, "not_extendable")
        total = (grant.expires_at - grant.granted_at) + duration if grant.expires_at and grant.granted_at \
            else duration
        decision = Decision.yes()
        if total > role.max_duration:
            decision = Decision.no("duration_too_long",
                                   f"that would make the grant {format_duration(total)} in all; `{role.name}` "
                                   f"allows at most {format_duration(role.max_duration)}")
        elif role.require_reason and not reason:
            decision = Decision.no("reason_required", f"`{role.name}` needs a reason: "
                                   f"`/access extend {grant.id} {format_duration(duration)} why`")
        if not decision.allowed:
            await record(deps, tx, AuditEvent(requester, "request.refused", grant_id=grant.id, role=role.name,
                                              subject=grant.email, details={"code": decision.code,
                                                                            "reason": decision.reason}))
            return Outcome(False, decision.reason, decision.code)
        req = AccessRequest(id=new_request_id(), role=role.name, requester=requester, email=grant.email,
                            duration=duration, reason=reason[:MAX_REASON], created_at=now,
                            expires_at=now + role.request_timeout, kind=RequestKind.EXTEND, grant_id=grant.id)
        await tx.add_request(req)
        await record(deps, tx, AuditEvent(requester, "request.created", request_id=req.id, grant_id=grant.id,
                                          role=role.name, subject=grant.email,
                                          details={"kind": "extend", "duration": format_duration(duration),
                                                   "reason": reason}))
        if role.auto_approve:
            await approve_in_tx(deps, tx, req, "system", auto=True)
            return Outcome(True, f"Grant `{grant.id}` is extended by {format_duration(duration)}.",
                           data={"request_id": req.id})
        await tx.enqueue("approval.post", {"request_id": req.id}, key="slack")
        await owe_home_refresh(tx, requester, approvers_of=req.id)
    return Outcome(True, f"Extension request `{req.id}` (+{format_duration(duration)} on `{grant.id}`) is "
                         "waiting for approval.", data={"request_id": req.id})


async def cancel(deps: Deps, user: str, request_id: str) -> Outcome:
    """Withdraw the caller's own pending request."""
    async with deps.store.tx() as tx:
        req = await tx.request(request_id, lock=True)
        if req is None or req.requester != user:
            await record(deps, tx, AuditEvent(user, "request.refused", request_id=request_id[:16],
                                              details={"code": "unknown_request"}))
            return Outcome(False, f"you have no request `{request_id[:16]}`; `/access list` shows yours",
                           "unknown_request")
        if not await tx.move_request(req.id, RequestState.PENDING, RequestState.CANCELLED,
                                     decided_by=user, decided_at=deps.clock.now()):
            return Outcome(False, f"request `{req.id}` is already {req.state.value}; nothing to cancel",
                           "already_decided")
        await record(deps, tx, AuditEvent(user, "request.cancelled", request_id=req.id, role=req.role,
                                          subject=req.email))
        await tx.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
        await tx.enqueue("notify.approvers", {"request_id": req.id, "event": "cancelled", "except": user},
                         key="slack")
        await owe_home_refresh(tx, user, approvers_of=req.id)
    return Outcome(True, f"Request `{req.id}` is cancelled.")


async def expire_request(deps: Deps, request_id: str) -> bool:
    """Time out a pending request whose `request_timeout` has passed; False when it was decided already."""
    now = deps.clock.now()
    async with deps.store.tx() as tx:
        req = await tx.request(request_id, lock=True)
        if req is None or req.expires_at > now:
            return False
        if not await tx.move_request(req.id, RequestState.PENDING, RequestState.EXPIRED,
                                     decided_by="system", decided_at=now):
            return False
        await record(deps, tx, AuditEvent("system", "request.expired", request_id=req.id, role=req.role,
                                          subject=req.email, grant_id=req.grant_id))
        await tx.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
        await tx.enqueue("notify.user", {"user": req.requester, "event": "request_expired",
                                         "request_id": req.id}, key="slack")
        await tx.enqueue("notify.approvers", {"request_id": req.id, "event": "expired"}, key="slack")
        await owe_home_refresh(tx, req.requester, approvers_of=req.id)
    return True


async def pending_for(deps: Deps, tx: Tx, user: str) -> list[AccessRequest]:
    """Pending requests this user could decide (listed approver or member of a listed user group)."""
    reqs = await tx.pending_requests()
    out = []
    group_cache: dict[tuple[str, ...], frozenset[str]] = {}
    for r in reqs:
        role = deps.policy.role(r.role)
        if role is None or (r.requester == user and not role.allow_self_approval):
            continue
        if user in role.approver_users:
            out.append(r)
            continue
        if role.approver_groups:
            key = role.approver_groups
            if key not in group_cache:
                group_cache[key] = await deps.directory.user_groups_of(user, key)
            if group_cache[key]:
                out.append(r)
    return out
