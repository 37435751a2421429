"""Ports: the small interfaces the use cases need from the outside world (adapters implement them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot.domain.audit_digest import AuditDigest
from bot.domain.effects import (
    AskOnCall,
    BreakGlassReview,
    EscalateRequest,
    NotifyAdmins,
    NotifyApprovers,
    NotifyThread,
    NotifyUser,
    PostApproval,
    PostAuditSummary,
    RefreshApprovalMessage,
    RefreshHome,
    RemindApprovers,
)


class AccessGroups(Protocol):
    """Cloudflare Access: groups as wholes, Zero Trust lists by item, and ending a person's sessions.

    Every method raises `bot.domain.errors.TransientError` or `PermanentError` on failure.
    """

    async def get_group(self, account_id: str, group_id: str) -> dict[str, Any]:
        """The group object (`result` of GET /accounts/{a}/access/groups/{g})."""
        ...

    async def put_group(self, account_id: str, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the group with `body` (name, include, exclude, require, ...); returns the result."""
        ...

    async def revoke_user(self, account_id: str, email: str) -> None:
        """POST /accounts/{a}/access/organizations/revoke_user {"email": email}."""
        ...

    async def get_list(self, account_id: str, list_id: str) -> dict[str, Any]:
        """The Zero Trust list (`result` of GET /accounts/{a}/gateway/lists/{l}: id, name, type, count, ...)."""
        ...

    async def get_list_items(self, account_id: str, list_id: str) -> list[dict[str, Any]]:
        """Every item of the list (`{"value": ..., ...}`), all pages of GET /accounts/{a}/gateway/lists/{l}/items."""
        ...

    async def patch_list(self, account_id: str, list_id: str, append: list[str], remove: list[str]) -> None:
        """One PATCH /accounts/{a}/gateway/lists/{l}: append these values and remove those."""
        ...


class Directory(Protocol):
    """Who people are in Slack."""

    async def user_profile(self, user_id: str) -> dict[str, Any]:
        """users.info `user` object (id, deleted, is_bot, is_restricted, profile.email, ...)."""
        ...

    async def user_groups_of(self, user_id: str, group_ids: tuple[str, ...], *,
                             fresh: bool = False) -> frozenset[str]:
        """Which of `group_ids` (Slack user groups) the user belongs to; `fresh` skips any cache (a re-check
        at approval must see a removal made a moment ago)."""
        ...

    async def find_by_email(self, email: str) -> str | None:
        """The ID of the member whose profile email is `email` (None when nobody's is)."""
        ...

    async def find_by_name(self, name: str) -> list[str]:
        """IDs of the members (deleted ones too) whose username, display name or real name is `name`."""
        ...


class Messenger(Protocol):
    """The chat front end (Slack): what the effect dispatcher asks of it, one operation per notice.

    Each operation renders from the state of the request or grant as it is when it runs. Every method
    raises `bot.domain.errors.TransientError` (to be retried) or `PermanentError` on failure.
    """

    async def post_approval(self, effect: PostApproval) -> None:
        """Post the request's approval message (to its role's channel, or to each approver directly)."""
        ...

    async def refresh_approval(self, effect: RefreshApprovalMessage) -> None:
        """Update the request's approval message(s) in place."""
        ...

    async def notify_user(self, effect: NotifyUser) -> None:
        """A direct message to the person."""
        ...

    async def notify_thread(self, effect: NotifyThread) -> None:
        """A note in the thread of the request's approval message(s)."""
        ...

    async def notify_approvers(self, effect: NotifyApprovers) -> None:
        """Tell approvers asked directly that the request was decided."""
        ...

    async def notify_admins(self, effect: NotifyAdmins) -> None:
        """An alert to the audit channel, or to each admin."""
        ...

    async def post_audit_summary(self, effect: PostAuditSummary) -> None:
        """The audit event's one-line summary, in the audit channel."""
        ...

    async def post_audit_digest(self, digest: AuditDigest) -> None:
        """A backlog's audit events as one top-level message in the audit channel, one line each."""
        ...

    async def ask_oncall(self, effect: AskOnCall) -> None:
        """Send the request's approval message to each of its on-call approvers directly."""
        ...

    async def refresh_home(self, effect: RefreshHome) -> None:
        """Republish the App Home of the people (and of the request's approvers) who have opened it."""
        ...

    async def remind_approvers(self, effect: RemindApprovers) -> None:
        """Re-ping the request's approvers who have not acted, in its thread and by DM."""
        ...

    async def escalate(self, effect: EscalateRequest) -> None:
        """Ask the request's escalation targets to decide it, and say so in its thread."""
        ...

    async def break_glass_review(self, effect: BreakGlassReview) -> None:
        """Announce a break-glass grant (or remind of its review) to the audit channel and every admin."""
        ...


@dataclass(frozen=True)
class OnCallPerson:
    """Someone on call now in one schedule: their PagerDuty user's email, name and ID, and the schedule's ID."""

    email: str
    name: str
    user_id: str
    schedule_id: str


class OnCall(Protocol):
    """Who is on call now (PagerDuty schedules).

    Every method raises `bot.domain.errors.TransientError` (down, timeout, 429) or `PermanentError` (401, 403,
    400) when PagerDuty cannot say; the use cases then treat nobody as on call.
    """

    async def on_call_now(self, schedule_ids: tuple[str, ...]) -> tuple[OnCallPerson, ...]:
        """Everyone on call now in any of these schedules (one entry per person and schedule)."""
        ...

    async def is_on_call(self, email: str, schedule_ids: tuple[str, ...]) -> OnCallPerson | None:
        """The person with this email if they are on call now in one of these schedules (their first), else None."""
        ...
