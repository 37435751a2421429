"""In-memory repositories with the SQL ones' rules: compare-and-set moves, unique rules, lanes, the hash chain."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.domain.clock import Clock
from bot.domain.effects import Effect, encode
from bot.domain.lanes import KEYS_PER_LANE, LANES, lane_of
from bot.domain.model import AccessRequest, Grant, GrantState, OnCallApprover, RequestKind, RequestState, Vote
from bot.domain.repositories import PRUNE_BATCH, Inserted

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
        self.db.requests[r.id] = replace(r, votes=[], decision_note="", decided_by=None, decided_at=None)
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

    async def pending(self) -> list[AccessRequest]:
        """Every pending request, oldest first."""
        return [replace(r, votes=[]) for r in sorted(self.db.requests.values(), key=lambda r: r.created_at)
                if r.state is RequestState.PENDING]

    async def due_expiries(self, now: datetime, limit: int = 100) -> list[str]:
        """Pending requests past their timeout, soonest first."""
        due = sorted((r for r in self.db.requests.values()
                      if r.state is RequestState.PENDING and r.expires_at <= now), key=lambda r: r.expires_at)
        return [r.id for r in due[:limit]]


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
                                       revoke_reason=None, revoke_actor=None, failure=None)
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

    async def live_for(self, requester: str, role: str) -> Grant | None:
        """The pending or active grant of the role."""
        return next((replace(g) for g in self.db.grants.values()
                     if g.requester == requester and g.role == role and g.state in LIVE), None)

    async def find(self, *, states: tuple[GrantState, ...] | None = None, limit: int | None = None,
                   email: str | None = None, **equal: str | None) -> list[Grant]:
        """Grants matching every filter (email case-insensitively), by creation time and ID."""
        out = [g for g in sorted(self.db.grants.values(), key=lambda g: (g.created_at, g.id))
               if (not states or g.state in states) and (email is None or g.email.lower() == email.lower())
               and all(v is None or getattr(g, k) == v for k, v in equal.items())]
        return [replace(g) for g in out[:limit or None]]

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


class FakeMembers(FakeRepo):
    """The bot's group members in memory."""

    async def emails(self, account_id: str, group_id: str) -> set[str]:
        """Lower-cased emails the bot added to the group."""
        return {e for a, g, e in self.db.members if (a, g) == (account_id, group_id)}

    async def groups(self) -> set[tuple[str, str]]:
        """Every group the bot added an email to."""
        return {(a, g) for a, g, _ in self.db.members}

    async def add(self, account_id: str, group_id: str, emails: set[str]) -> None:
        """Own these emails' rules."""
        for email in {e.lower() for e in emails}:
            self.db.members.setdefault((account_id, group_id, email), self.clock.now())

    async def remove(self, account_id: str, group_id: str, emails: set[str]) -> None:
        """Disown these emails' rules."""
        for email in {e.lower() for e in emails}:
            self.db.members.pop((account_id, group_id, email), None)


class FakeOutbox(FakeRepo):
    """Effects in memory, claimed by key lane by lane like the SQL outbox."""

    def __init__(self, db: FakeDb, clock: Clock) -> None:
        super().__init__(db, clock)
        self.enqueued = False

    async def enqueue(self, kind: str, payload: dict[str, Any], *, key: str | None = None,
                      at: datetime | None = None, lane: int | None = None) -> None:
        """Owe an effect (its payload stored as JSON, as the database stores it)."""
        now = self.clock.now()
        self.db.effects.append(dict(
            id=max((e["id"] for e in self.db.effects), default=0) + 1, kind=kind, key=key or kind,
            payload=json.loads(json.dumps(payload)),
            state="pending", attempts=0, next_at=at or now, created_at=now, alerts=0, done_at=None,
            last_error=None, first_failed_at=None, next_alert_at=None,
            lane=lane_of(kind) if lane is None else lane))
        self.enqueued = True

    async def owe(self, effect: Effect, *, at: datetime | None = None) -> None:
        """Owe a typed effect, encoded as the SQL outbox encodes it."""
        kind, payload, key, lane = encode(effect)
        await self.enqueue(kind, payload, key=key, at=at, lane=lane)

    def _pending(self) -> list[dict[str, Any]]:
        """The stored pending effects themselves (changed in place by postpone, finish and retry)."""
        return [e for e in self.db.effects if e["state"] == "pending"]

    async def due_keys(self, now: datetime, *, per_lane: int = KEYS_PER_LANE) -> list[tuple[str, int]]:
        """Each lane's keys whose first pending effect is due, by due time then key; a key once, in its most
        urgent lane."""
        keys: list[tuple[str, int]] = []
        seen: set[str] = set()
        for lane in LANES:
            due: dict[str, datetime] = {}
            for e in self._pending():
                if e["lane"] == lane:
                    due[e["key"]] = min(due.get(e["key"], e["next_at"]), e["next_at"])
            ready = sorted((at, k) for k, at in due.items() if at <= now)[:per_lane]
            for _, k in ready:
                if k not in seen:
                    seen.add(k)
                    keys.append((k, lane))
        return keys

    async def due_effects(self, now: datetime, limit: int = 50) -> list[Any]:
        """Pending effects due now, oldest first."""
        return [Row(copy.deepcopy(e)) for e in self._pending() if e["next_at"] <= now][:limit]

    async def effect(self, effect_id: int) -> Any:
        """One effect, or None."""
        return next((Row(copy.deepcopy(e)) for e in self.db.effects if e["id"] == effect_id), None)

    async def pending_effects_for_key(self, key: str) -> list[Any]:
        """Pending effects of a key, oldest first."""
        return [Row(copy.deepcopy(e)) for e in self._pending() if e["key"] == key]

    async def postpone_key(self, key: str, at: datetime) -> None:
        """The key's pending effects wait until `at`."""
        for e in self._pending():
            if e["key"] == key and e["next_at"] < at:
                e["next_at"] = at

    async def finish_effects(self, ids: list[int], state: str = "done", error: str | None = None) -> None:
        """Mark still-pending effects done or dead."""
        for e in self._pending():
            if e["id"] in ids:
                e.update(state=state, done_at=self.clock.now(), last_error=error)

    async def retry_effects(self, ids: list[int], at: datetime, error: str, *, first_failed_at: datetime,
                            next_alert_at: datetime | None = None, alerts: int | None = None) -> None:
        """Push still-pending effects to a later attempt."""
        for e in self._pending():
            if e["id"] in ids:
                e.update(next_at=at, last_error=error[:2000], attempts=e["attempts"] + 1,
                         first_failed_at=first_failed_at)
                if next_alert_at is not None:
                    e["next_alert_at"] = next_alert_at
                if alerts is not None:
                    e["alerts"] = alerts

    async def retrying_by_kind(self) -> dict[str, int]:
        """Pending effects that have failed at least once, per kind."""
        counts: dict[str, int] = {}
        for e in self._pending():
            if e["attempts"] > 0:
                counts[e["kind"]] = counts.get(e["kind"], 0) + 1
        return counts

    async def effect_counts(self) -> dict[str, int]:
        """Effects per state."""
        counts: dict[str, int] = {}
        for e in self.db.effects:
            counts[e["state"]] = counts.get(e["state"], 0) + 1
        return counts

    async def prune_done(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to `limit` effects done before `before`, oldest first (pending and dead ones are kept)."""
        old = {e["id"] for e in sorted(self.db.effects, key=lambda e: e["id"])
               if e["state"] == "done" and e["done_at"] is not None and e["done_at"] < before}
        old = set(sorted(old)[:limit])
        self.db.effects[:] = [e for e in self.db.effects if e["id"] not in old]
        return len(old)
