"""Grants and requests as plain JSON-ready records: the one shape the CLI (`grants --json`) and `/api` print."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.durations import format_duration
from bot.domain.model import AccessRequest, Grant
from bot.domain.policy import Role


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, or None."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


def grant_record(g: Grant) -> dict[str, Any]:
    """id, request_id, role, email, slack_user, state, granted_at, expires_at, revoked_at (spec §1)."""
    return {"id": g.id, "request_id": g.request_id, "role": g.role, "email": g.email, "slack_user": g.requester,
            "state": g.state.value, "granted_at": iso(g.granted_at), "expires_at": iso(g.expires_at),
            "revoked_at": iso(g.revoked_at),
            # break-glass (issue 11): granted without approvers, and who reviewed it
            "break_glass": g.break_glass, "acknowledged_by": g.acknowledged_by,
            "acknowledged_at": iso(g.acknowledged_at)}


def request_record(r: AccessRequest) -> dict[str, Any]:
    """A request with its votes."""
    return {"id": r.id, "kind": r.kind.value, "role": r.role, "email": r.email, "slack_user": r.requester,
            "duration": format_duration(r.duration), "duration_seconds": int(r.duration.total_seconds()),
            "reason": r.reason, "state": r.state.value, "grant_id": r.grant_id, "created_at": iso(r.created_at),
            "expires_at": iso(r.expires_at), "decided_by": r.decided_by, "decided_at": iso(r.decided_at),
            "decision_note": r.decision_note, "starts_at": iso(r.starts_at),
            "votes": [{"voter": v.voter, "choice": v.choice.value, "at": iso(v.at)} for v in r.votes],
            # reminders and escalation (issue 11)
            "reminders_sent": r.reminders_sent, "escalated_at": iso(r.escalated_at)}


def role_record(role: Role) -> dict[str, Any]:
    """A role as a portal shows it: its limits and who decides (durations as the policy writes them)."""
    return {"name": role.name, "description": role.description, "min_duration": format_duration(role.min_duration),
            "default_duration": format_duration(role.default_duration),
            "max_duration": format_duration(role.max_duration), "approvals_required": role.approvals_required,
            "auto_approve": role.auto_approve, "require_reason": role.require_reason,
            "revoke_sessions": role.revoke_sessions, "approvers": list(role.approvers),
            "requesters": list(role.requesters), "max_schedule_ahead": format_duration(role.max_schedule_ahead),
            # incident-time workflow (issue 11); 0 = none
            "remind_after": format_duration(role.remind_after), "reminders": role.reminders,
            "escalate_after": format_duration(role.escalate_after), "escalate_to": list(role.escalate_to),
            "break_glass": role.break_glass,
            "break_glass_max_duration": format_duration(role.break_glass_max_duration)}
