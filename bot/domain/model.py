"""Requests, votes and grants: their states and the transitions between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class RequestState(StrEnum):
    """Where a request is in its life."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    # approved ahead of its `starts_at`: the scheduler makes its grant when the start comes (scheduled start)
    SCHEDULED = "scheduled"


class GrantState(StrEnum):
    """Where a grant is in its life (spec §1: pending/active/revoking/revoked/failed)."""

    PENDING = "pending"      # approved, waiting for Cloudflare to confirm the add
    ACTIVE = "active"        # confirmed at Cloudflare, running until expires_at
    REVOKING = "revoking"    # ended, waiting for Cloudflare to confirm the removal
    REVOKED = "revoked"      # removal confirmed
    FAILED = "failed"        # Cloudflare refused for good (4xx other than 429)


class RequestKind(StrEnum):
    """A new grant, or more time on an existing one."""

    NEW = "new"
    EXTEND = "extend"


class VoteChoice(StrEnum):
    """An approver's choice."""

    APPROVE = "approve"
    DENY = "deny"


@dataclass
class Vote:
    """One approver's vote on one request."""

    request_id: str
    voter: str
    choice: VoteChoice
    at: datetime


@dataclass
class AccessRequest:
    """A person's request for a role for a while (or to extend a grant)."""

    id: str
    role: str
    requester: str
    email: str
    duration: timedelta
    reason: str
    created_at: datetime
    expires_at: datetime
    state: RequestState = RequestState.PENDING
    kind: RequestKind = RequestKind.NEW
    grant_id: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str = ""
    votes: list[Vote] = field(default_factory=list)
    starts_at: datetime | None = None  # a scheduled start: the grant is made then, not at approval
    # reminders and escalation (issue 11): the next reminder's time, how many were sent, escalation's time
    remind_at: datetime | None = None
    reminders_sent: int = 0
    escalate_at: datetime | None = None
    escalated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """True while votes can still change it."""
        return self.state is RequestState.PENDING

    def approvals(self) -> set[str]:
        """The distinct approvers who approved."""
        return {v.voter for v in self.votes if v.choice is VoteChoice.APPROVE}

    def has_voted(self, voter: str) -> bool:
        """True when this approver already voted."""
        return any(v.voter == voter for v in self.votes)


@dataclass
class Grant:
    """Membership of a role's Access group for a while."""

    id: str
    request_id: str
    role: str
    requester: str
    email: str
    account_id: str
    group_id: str
    duration: timedelta
    created_at: datetime
    state: GrantState = GrantState.PENDING
    granted_at: datetime | None = None
    expires_at: datetime | None = None
    warn_at: datetime | None = None
    warned: bool = False
    revoked_at: datetime | None = None
    revoke_reason: str | None = None
    revoke_actor: str | None = None
    revoke_sessions: bool = False
    failure: str | None = None
    # break-glass (issue 11): granted without approvers, reviewed after by an admin
    break_glass: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    review_remind_at: datetime | None = None
    review_reminders: int = 0

    def time_left(self, now: datetime) -> timedelta:
        """What is left of an active grant (zero when over)."""
        if self.expires_at is None:
            return timedelta(0)
        return max(self.expires_at - now, timedelta(0))


def extension_total(grant: Grant, extra: timedelta) -> tuple[timedelta, datetime] | None:
    """(the grant's length from its start once extended by `extra`, its new end); None when not running."""
    if grant.expires_at is None or grant.granted_at is None:
        return None
    return (grant.expires_at - grant.granted_at) + extra, grant.expires_at + extra


def warn_time(expires_at: datetime, warn_before: timedelta, granted_at: datetime) -> datetime | None:
    """When to warn about an expiry, or None when no warning is due (0, or longer than the grant)."""
    if warn_before <= timedelta(0):
        return None
    at = expires_at - warn_before
    return at if at > granted_at else None


@dataclass(frozen=True)
class OnCallApprover:
    """Someone made an approver of one request by being on call when it was filed (a role with `oncall` and
    `auto_approve: false`): their Slack user, the email PagerDuty knows them by, and the schedule."""

    request_id: str
    user: str
    email: str
    schedule_id: str
