"""Filing, cancelling and timing out requests."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.audit import AuditEvent, format_at
from bot.domain.durations import format_duration
from bot.domain.limits import next_filing_at
from bot.domain.model import AccessRequest, RequestKind, RequestState
from bot.domain.policy import Decision, Role, already_pending_request, extension_pending
from bot.domain.unit_of_work import UnitOfWork
from bot.services.approval import approve_in_tx, close_expired
from bot.services.checks import Requester, check, look_up
from bot.services.context import Deps, Outcome, RuleConflict, insert_request, owe_home_refresh, record

MAX_REASON = 40_000  # Slack's own limit on message text; longer text cannot come from Slack


async def refuse(deps: Deps, actor: str, code: str, reason: str, *, role: str | None = None,
                 details: dict | None = None) -> Outcome:
    """Audit a refused request and return the refusal."""
    async with deps.store.tx() as tx:
        await record(deps, tx, AuditEvent(actor, "request.refused", role=role,
                                          details={"code": code, "reason": reason, **(details or {})}))
    return Outcome(False, reason, code)


async def _refused(deps: Deps, tx: UnitOfWork, req: AccessRequest, decision: Decision, **details: object) -> Outcome:
    """Audit a refusal of a request about to be filed (inside the filing transaction) and return it."""
    await record(deps, tx, AuditEvent(req.requester, "request.refused", role=req.role, subject=req.email,
                                      grant_id=req.grant_id,
                                      details={"code": decision.code, "reason": decision.reason,
                                               "duration": format_duration(req.duration), **details}))
    return Outcome(False, decision.reason, decision.code)


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
    return Decision.no("rate_limited",
                       f"you have filed {limit.count} requests in the last {format_duration(limit.window)}, as "
                       f"many as one person may; you can file again at {format_at(again)[11:19]} UTC "
                       f"(in {format_duration(timedelta(seconds=wait))})"), wait


async def _file(deps: Deps, role: Role, req: AccessRequest, who: Requester, conflict: Decision,
                source: str) -> Outcome:
    """The filing transaction shared by requests and extensions: the person's lock, the filing limit, the
    shared checks, the insert (the database refuses a duplicate a race let through), auto-approval."""
    extend = req.kind is RequestKind.EXTEND
    try:
        async with deps.store.tx() as tx:
            await tx.lock_person(req.requester)
            limited = await _over_limit(deps, tx, req.requester)
            if limited is not None:
                out = await _refused(deps, tx, req, limited[0], retry_after_s=limited[1])
                out.data = {"retry_after_s": limited[1]}
                return out
            decision = await check(deps, tx, req, who)
            if not decision.allowed:
                return await _refused(deps, tx, req, decision)
            await insert_request(deps, tx, req, conflict)
            details = {"duration": format_duration(req.duration), "reason": req.reason, "source": source}
            if extend:
                details["kind"] = "extend"
            await record(deps, tx, AuditEvent(req.requester, "request.created", request_id=req.id, role=role.name,
                                              grant_id=req.grant_id, subject=req.email, details=details))
            if role.auto_approve:
                grant = await approve_in_tx(deps, tx, req, "system", auto=True)
                if extend:
                    return Outcome(True, f"Grant `{grant.id}` is extended by {format_duration(req.duration)}.",
                                   data={"request_id": req.id})
                return Outcome(True, f"`{role.name}` for {format_duration(req.duration)} is approved automatically "
                                     f"(grant `{grant.id}`); I will message you once Cloudflare has applied it.",
                               data={"request_id": req.id, "grant_id": grant.id})
            await tx.outbox.enqueue("approval.post", {"request_id": req.id}, key="slack")
            await owe_home_refresh(tx, req.requester, approvers_of=req.id)
    except RuleConflict as lost:
        # A concurrent filing got there first and the database refused this one: the same refusal the
        # checks give when they see it (the transaction is rolled back, nothing of this filing remains).
        async with deps.store.tx() as tx:
            return await _refused(deps, tx, req, lost.decision, race=True)
    if extend:
        return Outcome(True, f"Extension request `{req.id}` (+{format_duration(req.duration)} on `{req.grant_id}`) "
                             "is waiting for approval.", data={"request_id": req.id})
    return Outcome(True, f"Request `{req.id}` for `{role.name}` ({format_duration(req.duration)}) is waiting for "
                         f"{role.approvals_required} approval(s). `/access cancel {req.id}` withdraws it.",
                   data={"request_id": req.id})


async def _identity_refusal(deps: Deps, requester: str, who: Requester, role: str) -> Outcome:
    """Refuse (and audit) a filing by someone users.info says may not request, or could not be asked about."""
    code = "lookup_failed" if who.identity.transient else "no_identity"
    return await refuse(deps, requester, code, who.identity.why_not, role=role,
                        details={"identity": who.identity.code})


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
    who = await look_up(deps, requester, role)
    if who.identity.email is None:
        return await _identity_refusal(deps, requester, who, role.name)
    now = deps.clock.now()
    req = AccessRequest(id="", role=role.name, requester=requester, email=who.identity.email, duration=duration,
                        reason=reason, created_at=now, expires_at=now + role.request_timeout)
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
            return Outcome(False, f"you have no grant `{grant_id[:16]}`; `/access list` shows yours", "unknown_grant")
        role = deps.policy.role(grant.role)
        if role is None:
            reason_text = f"the role `{grant.role}` is no longer in the policy"
            await record(deps, tx, AuditEvent(requester, "request.refused", grant_id=grant.id, role=grant.role,
                                              details={"code": "not_extendable", "reason": reason_text}))
            return Outcome(False, reason_text, "not_extendable")
    who = await look_up(deps, requester, role)
    if who.identity.email is None:
        return await _identity_refusal(deps, requester, who, role.name)
    now = deps.clock.now()
    req = AccessRequest(id="", role=role.name, requester=requester, email=grant.email, duration=duration,
                        reason=reason[:MAX_REASON], created_at=now, expires_at=now + role.request_timeout,
                        kind=RequestKind.EXTEND, grant_id=grant.id)
    return await _file(deps, role, req, who, extension_pending(grant.id), source)


async def cancel(deps: Deps, user: str, request_id: str) -> Outcome:
    """Withdraw the caller's own pending request."""
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id, lock=True)
        if req is None or req.requester != user:
            await record(deps, tx, AuditEvent(user, "request.refused", request_id=request_id[:16],
                                              details={"code": "unknown_request"}))
            return Outcome(False, f"you have no request `{request_id[:16]}`; `/access list` shows yours",
                           "unknown_request")
        if not await tx.requests.move(req.id, RequestState.PENDING, RequestState.CANCELLED,
                                      decided_by=user, decided_at=deps.clock.now()):
            return Outcome(False, f"request `{req.id}` is already {req.state.value}; nothing to cancel",
                           "already_decided")
        await record(deps, tx, AuditEvent(user, "request.cancelled", request_id=req.id, role=req.role,
                                          subject=req.email))
        await tx.outbox.enqueue("approval.refresh", {"request_id": req.id}, key="slack")
        await tx.outbox.enqueue("notify.approvers", {"request_id": req.id, "event": "cancelled", "except": user},
                                key="slack")
        await owe_home_refresh(tx, user, approvers_of=req.id)
    return Outcome(True, f"Request `{req.id}` is cancelled.")


async def expire_request(deps: Deps, request_id: str) -> bool:
    """Time out a pending request whose `request_timeout` has passed; False when it was decided already."""
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id, lock=True)
        if req is None or req.expires_at > deps.clock.now():
            return False
        return await close_expired(deps, tx, req)


async def pending_for(deps: Deps, tx: UnitOfWork, user: str) -> list[AccessRequest]:
    """Pending requests this user could decide (listed approver or member of a listed user group)."""
    reqs = await tx.requests.pending()
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
