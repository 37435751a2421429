"""The incident-time timers (reminders, escalation, the break-glass review) and break-glass's duration cap."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.model import AccessRequest
from bot.domain.policy import Role

# A break-glass grant's review is asked again this often until an admin acknowledges it, unless the role's
# `remind_after` says otherwise.
REVIEW_EVERY = timedelta(minutes=30)


def remind_time(role: Role, created_at: datetime, sent: int) -> datetime | None:
    """When reminder number `sent + 1` of a request filed at `created_at` is due (times run from the request),
    or None when the role sends no (more) reminders."""
    if role.remind_after <= timedelta(0) or sent >= role.reminders:
        return None
    return created_at + role.remind_after * (sent + 1)


def escalate_time(role: Role, created_at: datetime) -> datetime | None:
    """When a request filed at `created_at` is escalated, or None when the role does not escalate."""
    if role.escalate_after <= timedelta(0) or not role.escalate_to:
        return None
    return created_at + role.escalate_after


def with_timers(role: Role, req: AccessRequest) -> AccessRequest:
    """The request with its first reminder and its escalation scheduled (before it is inserted)."""
    req.remind_at = remind_time(role, req.created_at, 0)
    req.escalate_at = escalate_time(role, req.created_at)
    return req


def role_for(role: Role, req: AccessRequest) -> Role:
    """The role as it decides this request now: with `escalate_to` as approvers once the request escalated."""
    return role.escalated() if req.escalated_at is not None else role


def review_every(role: Role | None) -> timedelta:
    """How often the admins are reminded of an unacknowledged break-glass grant."""
    if role is not None and role.remind_after > timedelta(0):
        return role.remind_after
    return REVIEW_EVERY


def break_glass_duration(role: Role, asked: timedelta | None) -> tuple[timedelta, bool]:
    """The duration a break-glass grant gets (the role's default when none is asked, never more than its
    `break_glass_max_duration`) and whether it was cut to that cap."""
    cap = role.break_glass_max_duration
    wanted = asked if asked is not None else min(role.default_duration, cap)
    return (cap, True) if wanted > cap else (wanted, False)
