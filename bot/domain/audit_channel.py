"""Which audit events the audit channel shows: `audit_channel_events` (all | decisions | alerts), and never typos."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LEVELS = ("all", "decisions", "alerts")

# Something went wrong that a person should look at.
ALERTS = frozenset({
    "grant.apply_failed", "grant.revoke_failed", "drift.detected", "auth.rejected", "grant.break_glass",
    "oncall.unavailable",
})
# What was decided and what happened to access because of it (and every alert).
DECISIONS = ALERTS | frozenset({
    "request.created", "request.approved", "request.denied", "request.cancelled", "request.expired",
    "request.escalated", "grant.applied", "grant.extended", "grant.revoked", "session.revoked",
    "breakglass.acknowledged", "policy.reloaded",
})
# Refusals of a mistyped command: audited, but noise in a channel people read.
MISTYPED = frozenset({"usage", "unknown_command", "bad_id", "bad_duration", "bad_value", "unknown_action",
                      "unknown_role", "unknown_grant", "unknown_request", "reason_required"})


def shows(level: str, action: str, details: Mapping[str, Any] | None = None) -> bool:
    """True when an audit channel at `level` gets a line for this event."""
    if action == "request.refused" and str((details or {}).get("code", "")) in MISTYPED:
        return False
    if level == "alerts":
        return action in ALERTS
    if level == "decisions":
        return action in DECISIONS
    return True
