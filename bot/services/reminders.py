"""Reminding approvers of a pending request, and escalating it: timers the scheduler runs, each once.

Each is a compare-and-set on the request's row (`reminders_sent`, `escalated_at`), so with replicas or after
a restart a reminder or an escalation is counted, audited and owed exactly once; a decided request has
none (the sets require it pending).
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.domain.audit import AuditEvent
from bot.domain.effects import EscalateRequest, RefreshApprovalMessage, RemindApprovers
from bot.domain.incident import remind_time
from bot.domain.model import AccessRequest
from bot.services.context import Deps, owe_home_refresh, record

log = logging.getLogger(__name__)


def _next_reminder(deps: Deps, req: AccessRequest, now: datetime) -> datetime | None:
    """When the reminder after this one is due: its slot from the request's filing, but never sooner than one
    `remind_after` from now (after downtime the missed ones are spaced out, not sent in a burst), never past the
    request's timeout, and None when the role allows no more (or is gone)."""
    role = deps.policy.role(req.role)
    if role is None:
        return None
    at = remind_time(role, req.created_at, req.reminders_sent + 1)
    if at is None:
        return None
    at = max(at, now + role.remind_after)
    return at if at < req.expires_at else None


async def remind_request(deps: Deps, request_id: str) -> bool:
    """Send the reminder that is due on a pending request (once); False when none is due or another process
    sent it."""
    now = deps.clock.now()
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id, lock=True)
        if req is None or not req.is_open or req.remind_at is None or req.remind_at > now:
            return False
        if not await tx.requests.mark_reminded(req.id, req.reminders_sent, _next_reminder(deps, req, now)):
            return False
        role = deps.policy.role(req.role)
        if role is None:  # the role left the policy: nobody to remind; the request times out as usual
            return False
        nth = req.reminders_sent + 1
        voted = sorted(v.voter for v in req.votes)
        await record(deps, tx, AuditEvent("system", "request.reminded", request_id=req.id, role=req.role,
                                          subject=req.email, grant_id=req.grant_id,
                                          details={"nth": nth, "of": role.reminders, "voted": voted,
                                                   "escalated": req.escalated_at is not None}))
        await tx.outbox.owe(RemindApprovers(req.id, nth))
    return True


async def escalate_request(deps: Deps, request_id: str) -> bool:
    """Escalate a pending request whose `escalate_after` has passed (once): its role's `escalate_to` become
    approvers of it too (checked at each click) and are asked. False when not due or done already."""
    now = deps.clock.now()
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id, lock=True)
        if req is None or not req.is_open or req.escalate_at is None or req.escalate_at > now \
                or req.escalated_at is not None:
            return False
        if not await tx.requests.mark_escalated(req.id, now):
            return False
        role = deps.policy.role(req.role)
        if role is None or not role.escalate_to:
            log.info("request %s: its role no longer escalates; nothing to do", req.id)
            return False
        await record(deps, tx, AuditEvent("system", "request.escalated", request_id=req.id, role=req.role,
                                          subject=req.email, grant_id=req.grant_id,
                                          details={"to": list(role.escalate_to),
                                                   "after": int(role.escalate_after.total_seconds())}))
        await tx.outbox.owe(EscalateRequest(req.id))
        await tx.outbox.owe(RefreshApprovalMessage(req.id))
        await owe_home_refresh(tx, req.requester, approvers_of=req.id)
    return True
