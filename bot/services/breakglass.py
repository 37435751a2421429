"""Break-glass: a role granted at once without approvers, announced loudly, and reviewed after by an admin.

The grant is made like an auto-approved request (the same filing rules: the requester allow-list, one live
grant and one pending request per role, the identity checks) but capped by the role's own
`break_glass_max_duration`; the admins get a message with Acknowledge / Revoke now and are reminded (a
compare-and-set timer on the grant, so once per turn across replicas) until one of them acknowledges it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain.audit import AuditEvent
from bot.domain.durations import format_duration
from bot.domain.effects import BreakGlassReview, RefreshApprovalMessage
from bot.domain.incident import break_glass_duration, review_every
from bot.domain.model import AccessRequest, GrantState
from bot.domain.outcomes import Acknowledged, BreakGlassGranted, Outcome, Refused
from bot.domain.policy import Role, already_pending_request, evaluate_request
from bot.domain.wording import explain
from bot.services import grants as grant_cases
from bot.services.approval import approve_in_tx
from bot.services.checks import Requester, look_up
from bot.services.context import Deps, RuleConflict, insert_request, owe_home_refresh, record
from bot.services.requests import MAX_REASON, refuse


async def _first_refusal(deps: Deps, requester: str, role_name: str, reason: str) -> Role | Refused:
    """The role, or the refusal (audited) of a break-glass it cannot give: unknown, none, no reason."""
    role = deps.policy.role(role_name)
    if role is None:
        refused = Refused("unknown_role", {"asked": role_name[:63], "roles": sorted(deps.policy.roles)},
                          "no_such_role")
        return await refuse(deps, requester, refused, details={"asked": role_name[:200], "break_glass": True})
    if not role.break_glass:
        return await refuse(deps, requester, Refused("break_glass_not_allowed", {"role": role.name}), role=role.name,
                            details={"break_glass": True})
    if not reason:
        return await refuse(deps, requester, Refused("break_glass_reason_required", {"role": role.name}),
                            role=role.name, details={"break_glass": True})
    if len(reason) > MAX_REASON:
        return await refuse(deps, requester, Refused("reason_too_long", {"length": len(reason), "limit": MAX_REASON}),
                            role=role.name, details={"break_glass": True})
    return role


async def break_glass(deps: Deps, requester: str, role_name: str, duration: timedelta | None, reason: str,
                      *, source: str = "slack") -> Outcome:
    """Grant a break-glass role at once (no approvers), capped by `break_glass_max_duration`, and owe its loud
    announcement and review."""
    reason = reason.strip()
    role = await _first_refusal(deps, requester, role_name, reason)
    if isinstance(role, Refused):
        return role
    length, capped = break_glass_duration(role, duration)
    who = await look_up(deps, requester, role)
    if who.identity.email is None:
        code = "lookup_failed" if who.identity.transient else "no_identity"
        return await refuse(deps, requester, Refused(code, who.identity.facts, "identity"), role=role.name,
                            details={"identity": who.identity.code, "break_glass": True})
    now = deps.clock.now()
    req = AccessRequest(id="", role=role.name, requester=requester, email=who.identity.email, duration=length,
                        reason=reason, created_at=now, expires_at=now + role.request_timeout)
    try:
        return await _grant(deps, role, req, who, capped, source)
    except RuleConflict as lost:
        return await refuse(deps, requester, lost.decision.refusal, role=role.name,
                            details={"break_glass": True, "race": True})


async def _grant(deps: Deps, role: Role, req: AccessRequest, who: Requester, capped: bool,
                 source: str) -> Outcome:
    """The break-glass transaction: the filing rules, the request (approved at once), the flagged grant."""
    cap = role.break_glass_max_duration
    async with deps.store.tx() as tx:
        await tx.lock_person(req.requester)
        holds = await tx.grants.live_for(req.requester, role.name)
        pending = await tx.requests.pending_request_for(req.requester, role.name)
        # the role's own max_duration does not bind a break-glass grant: its cap does (applied above)
        decision = evaluate_request(replace(role, max_duration=max(cap, role.max_duration)), req.requester,
                                    req.duration, req.reason, who.groups, already_holds=holds is not None,
                                    already_pending=pending is not None)
        if not decision.allowed:
            raise RuleConflict(decision)
        await insert_request(deps, tx, req, already_pending_request(role))
        details = {"duration": format_duration(req.duration), "reason": req.reason, "source": source,
                   "break_glass": True, "capped": capped}
        await record(deps, tx, AuditEvent(req.requester, "request.created", request_id=req.id, role=role.name,
                                          subject=req.email, details=details))
        grant = await approve_in_tx(deps, tx, req, "system", auto=True)
        await tx.grants.update(grant.id, GrantState.PENDING, break_glass=True,
                               review_remind_at=deps.clock.now() + review_every(role))
        await record(deps, tx, AuditEvent(req.requester, "grant.break_glass", request_id=req.id, grant_id=grant.id,
                                          role=role.name, subject=req.email,
                                          details={**details, "cap": format_duration(cap)}))
        await tx.outbox.owe(BreakGlassReview(grant.id, 0))
        await owe_home_refresh(tx, req.requester, *deps.policy.admins)
    return BreakGlassGranted(req.id, grant.id, role.name, req.duration, capped, cap)


async def acknowledge(deps: Deps, admin: str, grant_id: str, *, revoked: bool = False) -> Outcome:
    """An admin's review of a break-glass grant (Acknowledge, or done by Revoke now): once; the reminders stop.
    Anyone else is refused, and the refusal is audited."""
    async with deps.store.tx() as tx:
        grant = await tx.grants.get(grant_id, lock=True)
        if grant is None or not grant.break_glass:
            await record(deps, tx, AuditEvent(admin, "approval.refused", grant_id=grant_id[:16],
                                              details={"code": "not_break_glass", "op": "breakglass.acknowledge"}))
            return Refused("not_break_glass", {"grant_id": grant_id})
        base = dict(request_id=grant.request_id, grant_id=grant.id, role=grant.role, subject=grant.email)
        if not deps.policy.is_admin(admin):
            refused = Refused("not_admin", {"grant_id": grant.id}, "not_admin_review")
            await record(deps, tx, AuditEvent(admin, "approval.refused", **base,
                                              details={"code": "not_admin", "op": "breakglass.acknowledge",
                                                       "reason": explain(refused)}))
            return refused
        if not await tx.grants.acknowledge(grant.id, admin, deps.clock.now()):
            return Refused("already_acknowledged", {"grant_id": grant.id, "by": grant.acknowledged_by or "?"})
        await record(deps, tx, AuditEvent(admin, "breakglass.acknowledged", **base,
                                          details={"revoked": revoked, "reminders": grant.review_reminders}))
        await tx.outbox.owe(RefreshApprovalMessage(grant.request_id))
        await owe_home_refresh(tx, *deps.policy.admins)
    return Acknowledged(grant.id, grant.role)


async def revoke_now(deps: Deps, admin: str, grant_id: str) -> Outcome:
    """An admin's Revoke now on a break-glass review: the grant ends (as an admin revoke) and counts as reviewed."""
    if not deps.policy.is_admin(admin):
        return await acknowledge(deps, admin, grant_id)  # refused and audited there
    out = await grant_cases.revoke(deps, admin, grant_id, reason_text="revoked at the break-glass review")
    acked = await acknowledge(deps, admin, grant_id, revoked=True)
    return out if out.ok or not acked.ok else acked


async def remind_review(deps: Deps, grant_id: str) -> bool:
    """Remind the admins of an unacknowledged break-glass grant (once per turn); False when not due."""
    now = deps.clock.now()
    async with deps.store.tx() as tx:
        grant = await tx.grants.get(grant_id, lock=True)
        if grant is None or grant.acknowledged_at is not None or grant.review_remind_at is None \
                or grant.review_remind_at > now:
            return False
        nxt = now + review_every(deps.policy.role(grant.role))
        if not await tx.grants.mark_review_reminded(grant.id, grant.review_reminders, nxt):
            return False
        nth = grant.review_reminders + 1
        await record(deps, tx, AuditEvent("system", "breakglass.reminded", request_id=grant.request_id,
                                          grant_id=grant.id, role=grant.role, subject=grant.email,
                                          details={"nth": nth}))
        await tx.outbox.owe(BreakGlassReview(grant.id, nth))
    return True


