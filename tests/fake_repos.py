"""In-memory repositories with the SQL ones' rules: compare-and-set moves, unique rules, lanes, the hash chain."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.domain.clock import Clock
from bot.domain.model import AccessRequest, Grant, GrantState, OnCallApprover, RequestKind, RequestState, Vote
from bot.domain.repositories import Inserted

LIVE = (GrantState.PENDING, GrantState.ACTIVE)


@dataclass
class Row:
    """A stored row read back by attribute (effects, approval messages, checkpoints), like a SQL row."""

    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        """A column's value by name."""
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class FakeDb:
    """Every table's rows; the unit of work snapshots it on open and restores it on rollback."""

    requests: dict[str, AccessRequest] = field(default_factory=dict)
    votes: list[Vote] = field(default_factory=list)
    oncall_approvers: list[OnCallApprover] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)
    members: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    effects: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    approval_messages: list[dict[str, Any]] = field(default_factory=list)
    audit_threads: dict[str, tuple[str, str]] = field(default_factory=dict)
    home_viewers: dict[str, datetime] = field(default_factory=dict)
    deliveries: dict[str, datetime] = field(default_factory=dict)


class FakeRepo:
    """A repository over the shared FakeDb of one unit of work."""

    def __init__(self, db: FakeDb, clock: Clock) -> None:
        self.db = db
        self.clock = clock


def _pending_clash(r: AccessRequest, other: AccessRequest) -> bool:
    """Whether two pending requests break a one-pending rule (uq_requests_one_pending[_extension])."""
    if r.state is not RequestState.PENDING or other.state is not RequestState.PENDING or r.kind is not other.kind:
        return False
    if r.kind is RequestKind.NEW:
        return (r.requester, r.role) == (other.requester, other.role)
    return r.grant_id is not None and r.grant_id == other.grant_id


class FakeRequests(FakeRepo):
    """Requests and votes in memory."""

    async def add(self, r: AccessRequest) -> Inserted:
        """Insert; ID_TAKEN on a used ID, CONFLICT on a second pending request (or extension of one grant)."""
        if r.id in self.db.requests:
            return Inserted.ID_TAKEN
        if any(_pending_clash(r, o) for o in self.db.requests.values()):
            return Inserted.CONFLICT
        self.db.requests[r.id] = replace(r, votes=[], decision_note="", decided_by=None, decided_at=None,
                                         reminders_sent=0, escalated_at=None)
        return Inserted.OK

    async def get(self, request_id: str, *, lock: bool = False) -> AccessRequest | None:
        """A copy of the request with its votes in time order."""
        r = self.db.requests.get(request_id)
        if r is None:
            return None
        votes = sorted((v for v in self.db.votes if v.request_id == request_id), key=lambda v: v.at)
        return replace(r, votes=list(votes))

    async def filed_since(self, requester: str, since: datetime) -> list[datetime]:
        """Filing times after `since`, newest first."""
        return sorted((r.created_at for r in self.db.requests.values()
                       if r.requester == requester and r.created_at > since), reverse=True)

    def _first(self, match: Any) -> AccessRequest | None:
        """A copy (without votes) of the first request `match` accepts, or None."""
        hit = next((r for r in self.db.requests.values() if match(r)), None)
        return replace(hit, votes=[]) if hit else None

    async def pending_extension_for(self, grant_id: str, *, except_id: str | None = None) -> AccessRequest | None:
        """The grant's pending extension other than `except_id`."""
        return self._first(lambda r: r.grant_id == grant_id and r.state is RequestState.PENDING
                           and r.kind is RequestKind.EXTEND and r.id != except_id)

    async def pending_request_for(self, requester: str, role: str, *,
                                  except_id: str | None = None) -> AccessRequest | None:
        """The requester's pending new-grant request for the role other than `except_id`."""
        return self._first(lambda r: r.requester == requester and r.role == role and r.id != except_id
                           and r.state is RequestState.PENDING and r.kind is RequestKind.NEW)

    async def add_oncall_approvers(self, approvers: list[OnCallApprover]) -> None:
        """Add the on-call approvers not already there."""
        for a in approvers:
            if not any((o.request_id, o.user) == (a.request_id, a.user) for o in self.db.oncall_approvers):
                self.db.oncall_approvers.append(a)

    async def oncall_approvers(self, request_id: str) -> list[OnCallApprover]:
        """The request's on-call approvers, in the order added."""
        return [a for a in self.db.oncall_approvers if a.request_id == request_id]

    async def oncall_requests_of(self, user: str) -> set[str]:
        """Requests this person is an on-call approver of."""
        return {a.request_id for a in self.db.oncall_approvers if a.user == user}

    async def add_vote(self, vote: Vote) -> bool:
        """Record a vote; False on a second vote by the same voter."""
        if any((v.request_id, v.voter) == (vote.request_id, vote.voter) for v in self.db.votes):
            return False
        self.db.votes.append(vote)
        return True

    async def move(self, request_id: str, frm: RequestState, to: RequestState, **fields: Any) -> bool:
        """Compare-and-set the state."""
        r = self.db.requests.get(request_id)
        if r is None or r.state is not frm:
            return False
        self.db.requests[request_id] = replace(r, state=to, **fields)
        return True

    async def of(self, requester: str, state: RequestState = RequestState.PENDING) -> list[AccessRequest]:
        """The requester's requests in a state, oldest first."""
        return [replace(r, votes=[]) for r in sorted(self.db.requests.values(), key=lambda r: r.created_at)
                if r.requester == requester and r.state is state]

    async def pending(self, roles: Collection[str] | None = None, ids: Collection[str] = ()) -> list[AccessRequest]:
        """Every pending request, oldest first; given `roles`, only those of these roles or with these `ids`."""
        return [replace(r, votes=[]) for r in sorted(self.db.requests.values(), key=lambda r: r.created_at)
                if r.state is RequestState.PENDING and (roles is None or r.role in roles or r.id in ids)]

    async def pending_roles(self) -> set[str]:
        """The roles some pending request is for."""
        return {r.role for r in self.db.requests.values() if r.state is RequestState.PENDING}

    async def due_expiries(self, now: datetime, limit: int = 100) -> list[str]:
        """Pending requests past their timeout, soonest first."""
        due = sorted((r for r in self.db.requests.values()
                      if r.state is RequestState.PENDING and r.expires_at <= now), key=lambda r: r.expires_at)
        return [r.id for r in due[:limit]]

    async def due_starts(self, now: datetime, limit: int = 100) -> list[str]:
        """Scheduled requests whose start has come, soonest first."""
        due = sorted((r for r in self.db.requests.values() if r.state is RequestState.SCHEDULED
                      and r.starts_at is not None and r.starts_at <= now), key=lambda r: r.starts_at)
        return [r.id for r in due[:limit]]

    async def due_reminders(self, now: datetime, limit: int = 100) -> list[str]:
        """Pending requests whose next reminder has come."""
        return [r.id for r in self.db.requests.values()
                if r.state is RequestState.PENDING and r.remind_at and r.remind_at <= now][:limit]

    async def due_escalations(self, now: datetime, limit: int = 100) -> list[str]:
        """Pending, unescalated requests whose escalation has come."""
        return [r.id for r in self.db.requests.values() if r.state is RequestState.PENDING
                and r.escalate_at and r.escalate_at <= now and r.escalated_at is None][:limit]

    async def mark_reminded(self, request_id: str, sent: int, next_at: datetime | None) -> bool:
        """Compare-and-set on the reminder count."""
        r = self.db.requests.get(request_id)
        if r is None or r.state is not RequestState.PENDING or r.reminders_sent != sent or r.remind_at is None:
            return False
        self.db.requests[request_id] = replace(r, reminders_sent=sent + 1, remind_at=next_at)
        return True

    async def mark_escalated(self, request_id: str, at: datetime) -> bool:
        """Compare-and-set on escalated_at."""
        r = self.db.requests.get(request_id)
        if r is None or r.state is not RequestState.PENDING or r.escalated_at or r.escalate_at is None:
            return False
        self.db.requests[request_id] = replace(r, escalated_at=at, escalate_at=None)
        return True


class FakeGrants(FakeRepo):
    """Grants in memory."""

    async def add(self, g: Grant) -> Inserted:
        """Insert; ID_TAKEN on a used ID, CONFLICT on a second live grant of the role (uq_grants_one_live)."""
        if g.id in self.db.grants:
            return Inserted.ID_TAKEN
        if g.state in LIVE and any(o.state in LIVE and (o.requester, o.role) == (g.requester, g.role)
                                   for o in self.db.grants.values()):
            return Inserted.CONFLICT
        self.db.grants[g.id] = replace(g, warned=False, granted_at=None, expires_at=None, warn_at=None, revoked_at=None,
                                       revoke_reason=None, revoke_actor=None, failure=None, break_glass=False,
                                       acknowledged_by=None, acknowledged_at=None, review_remind_at=None,
                                       review_reminders=0)
        return Inserted.OK

    async def get(self, grant_id: str, *, lock: bool = False) -> Grant | None:
        """A copy of the grant."""
        g = self.db.grants.get(grant_id)
        return replace(g) if g else None

    async def extend(self, grant_id: str, old_expiry: datetime, new_expiry: datetime,
                     warn_at: datetime | None) -> bool:
        """Compare-and-set the end of an active grant."""
        g = self.db.grants.get(grant_id)
        if g is None or g.state is not GrantState.ACTIVE or g.expires_at != old_expiry:
            return False
        self.db.grants[grant_id] = replace(g, expires_at=new_expiry, warn_at=warn_at, warned=False)
        return True

    async def move(self, grant_id: str, frm: tuple[GrantState, ...], to: GrantState, **fields: Any) -> bool:
        """Compare-and-set the state."""
        g = self.db.grants.get(grant_id)
        if g is None or g.state not in frm:
            return False
        self.db.grants[grant_id] = replace(g, state=to, **fields)
        return True

    async def update(self, grant_id: str, state: GrantState, **fields: Any) -> bool:
        """Change fields of a grant still in `state`."""
        g = self.db.grants.get(grant_id)
        if g is None or g.state is not state:
            return False
        self.db.grants[grant_id] = replace(g, **fields)
        return True

    async def move_many(self, grant_ids: list[str], frm: tuple[GrantState, ...], to: GrantState, *,
                        due_by: datetime | None = None, **fields: Any) -> list[Grant]:
        """Compare-and-set each listed grant (in `frm`, and ended by `due_by` when given); the moved ones."""
        moved = []
        for gid in dict.fromkeys(grant_ids):
            g = self.db.grants.get(gid)
            if g is None or g.state not in frm or (due_by is not None and (g.expires_at is None
                                                                         or g.expires_at > due_by)):
                continue
            self.db.grants[gid] = replace(g, state=to, **fields)
            moved.append(replace(self.db.grants[gid]))
        return moved

    async def activate_many(self, starts: list[tuple[str, datetime, datetime | None]],
                            granted_at: datetime) -> list[str]:
        """Move the pending ones to active, each with its own end and warning time; the IDs that moved."""
        moved = []
        for gid, end, warn in starts:
            if await self.move(gid, (GrantState.PENDING,), GrantState.ACTIVE, granted_at=granted_at, expires_at=end,
                               warn_at=warn):
                moved.append(gid)
        return moved

    async def live_for(self, requester: str, role: str) -> Grant | None:
        """The pending or active grant of the role."""
        return next((replace(g) for g in self.db.grants.values()
                     if g.requester == requester and g.role == role and g.state in LIVE), None)

    async def find(self, *, states: tuple[GrantState, ...] | None = None, limit: int | None = None,
                   email: str | None = None, after: tuple[datetime, str] | None = None,
                   **equal: str | None) -> list[Grant]:
        """Grants matching every filter (email case-insensitively), by creation time and ID, after `after`."""
        out = [g for g in sorted(self.db.grants.values(), key=lambda g: (g.created_at, g.id))
               if (not states or g.state in states) and (email is None or g.email.lower() == email.lower())
               and (after is None or (g.created_at, g.id) > after)
               and all(v is None or getattr(g, k) == v for k, v in equal.items())]
        return [replace(g) for g in out[:limit or None]]

    async def recent(self, requester: str, states: tuple[GrantState, ...], limit: int) -> list[Grant]:
        """The requester's latest grants in `states`, newest first."""
        out = sorted((g for g in self.db.grants.values() if g.requester == requester and g.state in states),
                     key=lambda g: (g.created_at, g.id), reverse=True)
        return [replace(g) for g in out[:limit]]

    async def due_expiries(self, now: datetime, limit: int = 200) -> list[str]:
        """Active grants past their end, soonest first."""
        due = sorted((g for g in self.db.grants.values() if g.state is GrantState.ACTIVE and g.expires_at
                      and g.expires_at <= now), key=lambda g: g.expires_at)
        return [g.id for g in due[:limit]]

    async def counts_by_state(self) -> dict[str, int]:
        """Grants per state."""
        counts: dict[str, int] = {}
        for g in self.db.grants.values():
            counts[g.state.value] = counts.get(g.state.value, 0) + 1
        return counts

    async def oldest_overdue(self, now: datetime) -> datetime | None:
        """The earliest end of a grant still holding access past it."""
        ends = [g.expires_at for g in self.db.grants.values() if g.state in (GrantState.ACTIVE, GrantState.REVOKING)
                and g.expires_at is not None and g.expires_at <= now]
        return min(ends, default=None)

    async def due_warnings(self, now: datetime, limit: int = 200) -> list[str]:
        """Active, unwarned grants whose warning time has come."""
        return [g.id for g in self.db.grants.values() if g.state is GrantState.ACTIVE and not g.warned
                and g.warn_at is not None and g.warn_at <= now][:limit]

    async def due_reviews(self, now: datetime, limit: int = 100) -> list[str]:
        """Unacknowledged break-glass grants whose review reminder has come."""
        return [g.id for g in self.db.grants.values() if g.acknowledged_at is None
                and g.review_remind_at is not None and g.review_remind_at <= now][:limit]

    async def mark_review_reminded(self, grant_id: str, sent: int, next_at: datetime) -> bool:
        """Compare-and-set on the review reminder count."""
        g = self.db.grants.get(grant_id)
        if g is None or g.acknowledged_at or g.review_reminders != sent or g.review_remind_at is None:
            return False
        self.db.grants[grant_id] = replace(g, review_reminders=sent + 1, review_remind_at=next_at)
        return True

    async def acknowledge(self, grant_id: str, by: str, at: datetime) -> bool:
        """Compare-and-set the acknowledgement."""
        g = self.db.grants.get(grant_id)
        if g is None or not g.break_glass or g.acknowledged_at is not None:
            return False
        self.db.grants[grant_id] = replace(g, acknowledged_by=by, acknowledged_at=at, review_remind_at=None)
        return True
