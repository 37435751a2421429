"""On-call approval (a role's `oncall` key): ask PagerDuty when a request is filed, and again when an on-call
approver votes.

With `auto_approve: true` a requester on call now in one of the role's schedules is approved at once; with
`auto_approve: false` whoever is on call now (matched to Slack by email) becomes an approver of the request and
is asked. PagerDuty down, refusing the token, rate limiting or too slow means nobody is on call: the request goes
to the role's approvers, and `oncall.unavailable` is audited. It is never an error for the requester.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.domain.audit import AuditEvent
from bot.domain.effects import AskOnCall, NotifyUser
from bot.domain.errors import ExternalError
from bot.domain.model import AccessRequest, OnCallApprover
from bot.domain.policy import Role, is_member
from bot.domain.ports import OnCallPerson
from bot.domain.unit_of_work import UnitOfWork
from bot.services.context import Deps, record

log = logging.getLogger(__name__)

NOT_CONFIGURED = {"message": "PagerDuty is not configured (PAGERDUTY_API_TOKEN is not set)", "retryable": False}


@dataclass(frozen=True)
class Finding:
    """What PagerDuty said about one request when it was filed (before its transaction)."""

    requester_on_call: OnCallPerson | None = None  # auto_approve: the requester, on call now
    approvers: tuple[OnCallApprover, ...] = ()  # not auto_approve: the on-call people found in Slack
    not_in_slack: tuple[str, ...] = ()  # on-call emails no Slack member has
    unavailable: dict[str, Any] | None = None  # PagerDuty could not say (its error as audit details)
    schedule_ids: tuple[str, ...] = ()


async def ask(deps: Deps, role: Role, requester: str, email: str) -> Finding | None:
    """Ask PagerDuty about a request being filed for `role` (None when the role has no `oncall` or is
    `auto_approve` anyway). Network I/O: called after the ack and outside any transaction."""
    rule = role.oncall
    if rule is None or role.auto_approve:
        return None
    if deps.oncall is None:
        return Finding(unavailable=NOT_CONFIGURED, schedule_ids=rule.schedule_ids)
    try:
        if rule.auto_approve:
            person = await deps.oncall.is_on_call(email, rule.schedule_ids)
            return Finding(requester_on_call=person, schedule_ids=rule.schedule_ids)
        people = await deps.oncall.on_call_now(rule.schedule_ids)
    except ExternalError as exc:
        log.warning("PagerDuty could not say who is on call for role %s (%s); the role's approvers decide",
                    role.name, exc)
        return Finding(unavailable=exc.details(), schedule_ids=rule.schedule_ids)
    found: list[OnCallApprover] = []
    missing: list[str] = []
    for person in people:
        try:
            user = await deps.directory.find_by_email(person.email)
        except ExternalError as exc:
            log.warning("Slack could not find the on-call person %s: %s", person.email, exc)
            user = None
        if user is None:
            missing.append(person.email)
        elif (user != requester or role.allow_self_approval) and all(a.user != user for a in found):
            found.append(OnCallApprover("", user, person.email, person.schedule_id))
    return Finding(approvers=tuple(found), not_in_slack=tuple(missing), schedule_ids=rule.schedule_ids)


async def settle_in_tx(deps: Deps, tx: UnitOfWork, req: AccessRequest, finding: Finding | None) -> dict | None:
    """Record the filing's finding inside the filing transaction (after the request is inserted): audit
    `oncall.unavailable`, or make the on-call people approvers and owe asking them. Returns the approval
    details (`{"oncall": True, "schedule": …}`) when the requester is on call and the request is to be
    approved at once; otherwise None."""
    if finding is None:
        return None
    base = dict(request_id=req.id, role=req.role, subject=req.email, grant_id=req.grant_id)
    if finding.unavailable is not None:
        await record(deps, tx, AuditEvent("system", "oncall.unavailable", **base, details={
            "provider": "pagerduty", "schedule_ids": list(finding.schedule_ids), "error": finding.unavailable,
            "then": "the role's approvers decide"}))
        return None
    if finding.requester_on_call is not None:
        return {"oncall": True, "provider": "pagerduty", "schedule": finding.requester_on_call.schedule_id}
    approvers = [OnCallApprover(req.id, a.user, a.email, a.schedule_id) for a in finding.approvers]
    if approvers or finding.not_in_slack:
        await tx.requests.add_oncall_approvers(approvers)
        await record(deps, tx, AuditEvent("system", "request.oncall_approvers", **base, details={
            "provider": "pagerduty", "approvers": [a.user for a in approvers],
            "schedules": sorted({a.schedule_id for a in approvers}), "not_in_slack": list(finding.not_in_slack)}))
    if approvers:
        await tx.outbox.owe(AskOnCall(req.id))
    return None


async def tell_requester_in_tx(tx: UnitOfWork, req: AccessRequest, approved: dict) -> None:
    """Owe the requester's DM saying their request was approved because they are on call."""
    await tx.outbox.owe(NotifyUser(req.requester, "oncall_approved", request_id=req.id, role=req.role,
                                   schedule=str(approved.get("schedule") or "")))


async def voter_status(deps: Deps, req: AccessRequest, role: Role, voter: str,
                       voter_groups: frozenset[str]) -> tuple[str, OnCallApprover | None]:
    """Whether a voter who is not one of the role's approvers may vote as an on-call approver now:
    ("not_oncall", None) when they were never made one; ("on_call" | "off_call" | "unavailable", who) after
    asking PagerDuty again. Network I/O: called outside the vote's transaction."""
    if role.oncall is None or is_member(voter, role.approvers, voter_groups):
        return "not_oncall", None
    async with deps.store.tx() as tx:
        listed = next((a for a in await tx.requests.oncall_approvers(req.id) if a.user == voter), None)
    if listed is None:
        return "not_oncall", None
    if deps.oncall is None:
        return "unavailable", listed
    try:
        now = await deps.oncall.is_on_call(listed.email, role.oncall.schedule_ids)
    except ExternalError as exc:
        log.warning("PagerDuty could not confirm %s is still on call (%s); their vote is refused", voter, exc)
        async with deps.store.tx() as tx:
            await record(deps, tx, AuditEvent("system", "oncall.unavailable", request_id=req.id, role=req.role,
                                              subject=req.email, details={
                                                  "provider": "pagerduty", "voter": voter,
                                                  "schedule_ids": list(role.oncall.schedule_ids),
                                                  "error": exc.details(), "then": "the vote is refused"}))
        return "unavailable", listed
    return ("on_call" if now is not None else "off_call"), listed
