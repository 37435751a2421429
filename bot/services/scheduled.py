"""Scheduled starts: reading the start a person asked for, and applying an approved-ahead request when it comes.

A request with `starts_at` is approved ahead (`scheduled`, no grant yet). When the start comes the scheduler
calls `start_scheduled`: the requester's identity (users.info, asked afresh) and every filing rule are checked
again (the same `checks.check`), and only then is the grant made; its duration runs from that apply. The
move `scheduled → approved` is a compare-and-set under the request's row lock, so with several replicas (or a
restart mid-way) a start is applied once. A start found only after its whole window (start + duration) has
passed, because the bot was down, is not applied and the requester is told.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.audit import AuditEvent
from bot.domain.effects import NotifyUser, RefreshApprovalMessage
from bot.domain.model import AccessRequest, RequestState
from bot.domain.outcomes import Refused
from bot.domain.policy import Decision, Role
from bot.domain.start_times import StartTimeError, Zone, parse_start, start_problem, window_over
from bot.domain.unit_of_work import UnitOfWork
from bot.domain.wording import explain
from bot.services.approval import make_grant
from bot.services.checks import check, look_up
from bot.services.context import Deps, RuleConflict, owe_home_refresh, record

APPLIED, REFUSED, MISSED, RETRY, NOTHING = "applied", "refused", "missed", "retry", ""


async def read_start(deps: Deps, requester: str, role: Role, text: str, zone: Zone) -> datetime | Refused:
    """The start `text` names (read in `zone`), or the refusal: unreadable, already past, or further ahead than
    the role's `max_schedule_ahead`."""
    now = deps.clock.now()
    try:
        starts_at = parse_start(text, now, zone)
    except StartTimeError as exc:
        return Refused("bad_start", {"problem": str(exc), "zone": zone.name})
    problem = start_problem(starts_at, now, role.max_schedule_ahead)
    facts = {"starts_at": starts_at, "zone": zone.name, "max": role.max_schedule_ahead, "role": role.name}
    if problem == "start_in_past":
        return Refused("start_in_past", facts)
    if problem:
        return Refused("start_too_far", facts)
    return starts_at


def _due(req: AccessRequest | None, now: datetime) -> bool:
    """True when the request waits for a start that has come."""
    return req is not None and req.state is RequestState.SCHEDULED and req.starts_at is not None \
        and req.starts_at <= now


async def start_scheduled(deps: Deps, request_id: str) -> str:
    """Apply an approved-ahead request whose start has come: `applied`, `refused` (a re-check failed; closed,
    audited and told), `missed` (its window passed while the bot was down), `retry` (Slack could not be
    asked; try again later) or "" (not due, or another process did it)."""
    now = deps.clock.now()
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id)
    if not _due(req, now):
        return NOTHING
    assert req is not None and req.starts_at is not None
    role = deps.policy.role(req.role)
    who = None
    if role is not None and not window_over(req.starts_at, req.duration, now):
        who = await look_up(deps, req.requester, role, fresh=True)  # network I/O: outside the transaction
    try:
        async with deps.store.tx() as tx:
            req = await tx.requests.get(request_id, lock=True)
            if not _due(req, now):
                return NOTHING
            assert req is not None and req.starts_at is not None
            if window_over(req.starts_at, req.duration, now):
                await _missed(deps, tx, req)
                return MISSED
            decision = await check(deps, tx, req, who) if role is not None and who is not None else \
                Decision.no("unknown_role", "role_removed", role=req.role)
            if decision.code == "lookup_failed":
                return RETRY
            if not decision.allowed:
                await _refuse_start(deps, tx, req, decision)
                return REFUSED
            assert role is not None
            return await _apply(deps, tx, req, role)
    except RuleConflict as lost:  # the database says the person holds the role already
        async with deps.store.tx() as tx:
            req = await tx.requests.get(request_id, lock=True)
            if not _due(req, now):
                return NOTHING
            assert req is not None
            await _refuse_start(deps, tx, req, lost.decision)
            return REFUSED


async def _apply(deps: Deps, tx: UnitOfWork, req: AccessRequest, role: Role) -> str:
    """Move the request `scheduled → approved` (once, whoever else tries) and make its grant now."""
    if not await tx.requests.move(req.id, RequestState.SCHEDULED, RequestState.APPROVED):
        return NOTHING
    grant = await make_grant(deps, tx, req, role)
    await record(deps, tx, AuditEvent("system", "grant.started", request_id=req.id, grant_id=grant.id,
                                      role=req.role, subject=req.email,
                                      details={"starts_at": req.starts_at.isoformat() if req.starts_at else None,
                                               "scheduled": True}))
    await owe_home_refresh(tx, req.requester, approvers_of=None)
    return APPLIED


async def _refuse_start(deps: Deps, tx: UnitOfWork, req: AccessRequest, decision: Decision) -> None:
    """Close a scheduled request that fails its re-check at the start: cancelled by the system, audited, told."""
    why = explain(decision.refusal)
    if not await tx.requests.move(req.id, RequestState.SCHEDULED, RequestState.CANCELLED, decided_by="system",
                                  decided_at=deps.clock.now(), decision_note=why[:500]):
        return
    await record(deps, tx, AuditEvent("system", "grant.start_refused", request_id=req.id, role=req.role,
                                      subject=req.email, details={"code": decision.code, "reason": why}))
    await _tell(tx, req, "start_refused")


async def _missed(deps: Deps, tx: UnitOfWork, req: AccessRequest) -> None:
    """Close a scheduled request whose whole window passed before it could be applied."""
    note = "its whole window passed while the bot was not running; nothing was granted"
    if not await tx.requests.move(req.id, RequestState.SCHEDULED, RequestState.EXPIRED, decided_by="system",
                                  decided_at=deps.clock.now(), decision_note=note):
        return
    end = req.starts_at + req.duration if req.starts_at else None
    await record(deps, tx, AuditEvent("system", "grant.start_missed", request_id=req.id, role=req.role,
                                      subject=req.email,
                                      details={"starts_at": req.starts_at.isoformat() if req.starts_at else None,
                                               "window_end": end.isoformat() if end else None}))
    await _tell(tx, req, "start_missed")


async def _tell(tx: UnitOfWork, req: AccessRequest, event: str) -> None:
    """Tell the requester, update the approval message and the Homes."""
    await tx.outbox.owe(NotifyUser(req.requester, event, request_id=req.id))
    await tx.outbox.owe(RefreshApprovalMessage(req.id))
    await owe_home_refresh(tx, req.requester, approvers_of=req.id)
