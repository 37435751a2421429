"""The access policy (roles, limits, approvers) and the decisions it makes about requests and votes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from bot.domain.durations import format_duration
from bot.domain.outcomes import Refused

# A grant's `group_id` (and the outbox key, the lock and the ownership records) names a list role's target
# as `list:<list_id>`: Cloudflare's group and list IDs are UUIDs, so the two can never collide.
LIST_TARGET = "list:"


@dataclass(frozen=True)
class OnCallRule:
    """A role's `oncall` key: whose being on call in these PagerDuty schedules approves or decides requests."""

    provider: str
    schedule_ids: tuple[str, ...]
    auto_approve: bool = False


@dataclass(frozen=True)
class Role:
    """One requestable role: which Access group (or Zero Trust EMAIL list) it grants, its limits and who decides.

    A role names exactly one of `group_id` (the bot edits the group's own email rules) and `list_id` (the bot
    appends to and removes from a Zero Trust list the group includes); `group_id` is "" for a list role.
    """

    name: str
    group_id: str
    account_id: str
    description: str = ""
    approvers: tuple[str, ...] = ()
    approval_channel: str | None = None
    requesters: tuple[str, ...] = ()
    auto_approve: bool = False
    min_duration: timedelta = timedelta(minutes=5)
    default_duration: timedelta = timedelta(hours=1)
    max_duration: timedelta = timedelta(hours=8)
    approvals_required: int = 1
    allow_self_approval: bool = False
    warn_before: timedelta = timedelta(minutes=10)
    request_timeout: timedelta = timedelta(hours=24)
    require_reason: bool = True
    revoke_sessions: bool = False
    list_id: str | None = None
    max_schedule_ahead: timedelta = timedelta(days=30)  # how far ahead a scheduled start may be
    # incident-time workflow (issue 11): reminders, escalation, break-glass
    remind_after: timedelta = timedelta(0)          # 0 = no reminders
    reminders: int = 3
    escalate_after: timedelta = timedelta(0)        # 0 = no escalation
    escalate_to: tuple[str, ...] = ()
    break_glass: bool = False
    break_glass_max_duration: timedelta = timedelta(hours=1)

    def escalated(self) -> Role:
        """This role as it is once a request was escalated: `escalate_to` are approvers too."""
        extra = tuple(a for a in self.escalate_to if a not in self.approvers)
        return replace(self, approvers=self.approvers + extra) if extra else self
    oncall: OnCallRule | None = None

    @property
    def target(self) -> str:
        """What grants of this role change: the group ID, or `list:<list_id>` (see bot.domain.membership)."""
        return f"{LIST_TARGET}{self.list_id}" if self.list_id else self.group_id

    @property
    def approver_users(self) -> tuple[str, ...]:
        """Approvers named by user ID."""
        return tuple(a for a in self.approvers if not a.startswith("S"))

    @property
    def approver_groups(self) -> tuple[str, ...]:
        """Approvers named by Slack user-group ID."""
        return tuple(a for a in self.approvers if a.startswith("S"))

    def limits_text(self) -> str:
        """`5m–4h, default 1h` for people."""
        return (
            f"{format_duration(self.min_duration)}–{format_duration(self.max_duration)}, "
            f"default {format_duration(self.default_duration)}"
        )


@dataclass(frozen=True)
class Policy:
    """The whole policy file: roles, admins and the audit channel."""

    roles: dict[str, Role] = field(default_factory=dict)
    admins: tuple[str, ...] = ()
    audit_channel: str | None = None
    audit_channel_events: str = "all"  # all | decisions | alerts: see bot.domain.audit_channel

    def role(self, name: str) -> Role | None:
        """The role of that name, or None."""
        return self.roles.get(name)

    def is_admin(self, user_id: str) -> bool:
        """True when the Slack user is one of the policy's admins."""
        return user_id in self.admins


@dataclass(frozen=True)
class Decision:
    """A yes or no; a no carries its machine code and the facts behind it (see bot.domain.outcomes.Refused)."""

    allowed: bool
    code: str = "ok"
    facts: dict[str, Any] = field(default_factory=dict)
    form: str = ""

    @classmethod
    def yes(cls) -> Decision:
        """An allowing decision."""
        return cls(True)

    @classmethod
    def no(cls, code: str, form: str = "", **facts: Any) -> Decision:
        """A refusing decision with its code, the wording `form` (when not the code's own) and its facts."""
        return cls(False, code, dict(facts), form)

    @property
    def refusal(self) -> Refused:
        """This refusing decision as a use case's answer."""
        return Refused(self.code, dict(self.facts), self.form)


def is_member(user_id: str, allowed: tuple[str, ...], user_groups_of: frozenset[str]) -> bool:
    """True when the user is listed by ID or belongs to one of the listed user groups."""
    return user_id in allowed or bool(user_groups_of.intersection(a for a in allowed if a.startswith("S")))


def already_granted(role: Role) -> Decision:
    """The refusal of a request for a role the requester already holds (one live grant per person and role)."""
    return Decision.no("already_granted", role=role.name)


def already_pending_request(role: Role) -> Decision:
    """The refusal of a second pending request for one role (one pending request per person and role)."""
    return Decision.no("already_pending", role=role.name)


def extension_pending(grant_id: str, request_id: str | None = None) -> Decision:
    """The refusal of a second pending extension of one grant."""
    return Decision.no("extension_pending", grant_id=grant_id, request_id=request_id)


def _limits(role: Role) -> dict[str, Any]:
    """The role's name and duration limits, as facts of a refusal."""
    return {"role": role.name, "min": role.min_duration, "max": role.max_duration, "default": role.default_duration}


def evaluate_request(
    role: Role,
    requester: str,
    duration: timedelta,
    reason: str,
    requester_groups: frozenset[str] = frozenset(),
    already_holds: bool = False,
    already_pending: bool = False,
) -> Decision:
    """Decide whether `requester` may ask for `role` for `duration` with `reason`."""
    if role.requesters and not is_member(requester, role.requesters, requester_groups):
        return Decision.no("not_allowed", role=role.name)
    if already_holds:
        return already_granted(role)
    if already_pending:
        return already_pending_request(role)
    if duration < role.min_duration:
        return Decision.no("duration_too_short", duration=duration, **_limits(role))
    if duration > role.max_duration:
        return Decision.no("duration_too_long", duration=duration, **_limits(role))
    if role.require_reason and not reason.strip():
        return Decision.no("reason_required", role=role.name, default=role.default_duration)
    return Decision.yes()


def evaluate_vote(
    role: Role,
    voter: str,
    requester: str,
    voter_groups: frozenset[str],
    on_call: bool = False,
) -> Decision:
    """Decide whether `voter` may approve or deny a request by `requester` for `role`; `on_call` when the voter
    was made an approver of this request by being on call and PagerDuty says they still are."""
    if not on_call and not is_member(voter, role.approvers, voter_groups):
        return Decision.no("not_an_approver", role=role.name)
    if voter == requester and not role.allow_self_approval:
        return Decision.no("self_approval")
    return Decision.yes()


def extension_too_long(role: Role, total: timedelta) -> Decision:
    """The refusal of an extension that would make a grant last `total` from its start, past `max_duration`."""
    return Decision.no("duration_too_long", "extension_too_long", role=role.name, total=total, max=role.max_duration)


def evaluate_extension(
    role: Role,
    requester: str,
    grant_id: str,
    grant_state: str,
    extra: timedelta,
    total: timedelta | None,
    reason: str,
    requester_groups: frozenset[str] = frozenset(),
    other_pending: str | None = None,
) -> Decision:
    """Decide whether `requester` may lengthen their grant of `role` by `extra`, so it lasts `total` in all.

    `total` is the grant's length from its original start once extended (None when it is not running);
    `other_pending` names another pending extension of the same grant, if there is one."""
    if role.requesters and not is_member(requester, role.requesters, requester_groups):
        return Decision.no("not_allowed", role=role.name)
    if grant_state != "active" or total is None:
        return Decision.no("not_extendable", grant_id=grant_id, state=grant_state)
    if other_pending:
        return extension_pending(grant_id, other_pending)
    if total > role.max_duration:
        return extension_too_long(role, total)
    if role.require_reason and not reason.strip():
        return Decision.no("reason_required", "extension_reason_required", role=role.name, grant_id=grant_id,
                           extra=extra)
    return Decision.yes()
