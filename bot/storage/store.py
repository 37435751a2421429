"""The unit of work: one transaction with the repository operations the use cases need."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.audit import GENESIS_HASH, AuditEvent, seal
from bot.domain.clock import Clock
from bot.domain.effects import LANE_CF_ADD, LANE_CF_OTHER, LANE_CF_REMOVE, LANE_OTHER, LANES, Effect, encode
from bot.domain.model import (
    AccessRequest,
    Grant,
    GrantState,
    RequestKind,
    RequestState,
    Vote,
    VoteChoice,
)
from bot.logging_setup import log_audited
from bot.storage import tables as t

_AUDIT_LOCK = 727100002
_PERSON_LOCK = 727100003  # with a hash of the Slack user ID: one person's filings, one at a time


class Inserted(StrEnum):
    """How an insert of a row with a fresh ID went."""

    OK = "ok"
    ID_TAKEN = "id_taken"    # another row has this ID: try again with a fresh one
    CONFLICT = "conflict"    # a partial unique index (one pending request, one live grant) forbids the row

# At most this many keys of one lane are claimed per look (the lanes are bot.domain.effects').
KEYS_PER_LANE = 500


# A lane's distinct pending keys (one index seek each), with when each key's first effect falls due.
_DUE_KEYS = text("""
WITH RECURSIVE lane_keys(key) AS (
    SELECT MIN(key) FROM effects WHERE state = 'pending' AND lane = :lane
    UNION ALL
    SELECT (SELECT MIN(e.key) FROM effects e WHERE e.state = 'pending' AND e.lane = :lane AND e.key > lane_keys.key)
    FROM lane_keys WHERE lane_keys.key IS NOT NULL
)
SELECT key FROM (
    SELECT key, (SELECT MIN(e.next_at) FROM effects e
                 WHERE e.state = 'pending' AND e.lane = :lane AND e.key = lane_keys.key) AS due
    FROM lane_keys WHERE key IS NOT NULL
) AS keyed
WHERE due <= :now ORDER BY due, key LIMIT :limit
""").bindparams(bindparam("now", type_=t.UTCDateTime()))


def lane_of(kind: str) -> int:
    """The lane an effect of this kind goes in when its owner does not say."""
    if kind == "cf.revoke_sessions":
        return LANE_CF_REMOVE
    if kind == "cf.sync":
        return LANE_CF_ADD
    return LANE_CF_OTHER if kind.startswith("cf.") else LANE_OTHER


def _request(row: Any, votes: list[Vote] | None = None) -> AccessRequest:
    return AccessRequest(
        id=row.id, role=row.role, requester=row.requester, email=row.email,
        duration=timedelta(seconds=row.duration_s), reason=row.reason, created_at=row.created_at,
        expires_at=row.expires_at, state=RequestState(row.state), kind=RequestKind(row.kind),
        grant_id=row.grant_id, decided_by=row.decided_by, decided_at=row.decided_at,
        decision_note=row.decision_note or "", votes=votes or [],
    )


def _grant(row: Any) -> Grant:
    return Grant(
        id=row.id, request_id=row.request_id, role=row.role, requester=row.requester, email=row.email,
        account_id=row.account_id, group_id=row.group_id, duration=timedelta(seconds=row.duration_s),
        created_at=row.created_at, state=GrantState(row.state), granted_at=row.granted_at,
        expires_at=row.expires_at, warn_at=row.warn_at, warned=bool(row.warned), revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason, revoke_actor=row.revoke_actor,
        revoke_sessions=bool(row.revoke_sessions), failure=row.failure,
    )


def audit_row(row: Any) -> dict[str, Any]:
    """An audit_log row as the dict the hash covers (details parsed back from their canonical JSON)."""
    return {
        "seq": row.seq, "at": row.at, "actor": row.actor, "action": row.action,
        "request_id": row.request_id, "grant_id": row.grant_id, "role": row.role,
        "subject": row.subject, "details": json.loads(row.details), "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


class Tx:
    """One open transaction and the reads and writes the use cases make in it."""

    def __init__(self, conn: AsyncConnection, clock: Clock, pg: bool) -> None:
        self.conn = conn
        self.clock = clock
        self.pg = pg
        self.enqueued = False
        self.audited: list[dict[str, Any]] = []

    # ---- requests and votes -------------------------------------------------------------
    async def _insert_unique(self, table: Any, row_id: str, values: dict[str, Any]) -> Inserted:
        """Insert a row in a savepoint; a unique violation says whether the ID was taken or a rule broken."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(insert(table).values(id=row_id, **values))
        except IntegrityError:
            taken = (await self.conn.execute(select(table.c.id).where(table.c.id == row_id))).first()
            return Inserted.ID_TAKEN if taken else Inserted.CONFLICT
        return Inserted.OK

    async def add_request(self, r: AccessRequest) -> Inserted:
        """Insert a new request; ID_TAKEN when its ID exists, CONFLICT when a one-pending rule forbids it."""
        return await self._insert_unique(t.requests, r.id, dict(
            role=r.role, requester=r.requester, email=r.email,
            duration_s=int(r.duration.total_seconds()), reason=r.reason, created_at=r.created_at,
            expires_at=r.expires_at, state=r.state.value, kind=r.kind.value, grant_id=r.grant_id,
            decision_note="",
        ))

    async def lock_person(self, user_id: str) -> None:
        """Serialise one person's filings across processes until the transaction ends (PostgreSQL; SQLite
        already has one writer at a time)."""
        if self.pg:
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(:k, hashtext(:u))"),
                                    {"k": _PERSON_LOCK, "u": user_id})

    async def filed_since(self, requester: str, since: datetime) -> list[datetime]:
        """When the requester filed each request and extension created after `since`, newest first."""
        rows = await self.conn.execute(select(t.requests.c.created_at).where(
            t.requests.c.requester == requester, t.requests.c.created_at > since,
        ).order_by(t.requests.c.created_at.desc()))
        return [r.created_at for r in rows]

    async def pending_extension_for(self, grant_id: str, *, except_id: str | None = None) -> AccessRequest | None:
        """The pending extension of a grant (other than `except_id`), if any."""
        q = select(t.requests).where(
            t.requests.c.grant_id == grant_id, t.requests.c.state == RequestState.PENDING.value,
            t.requests.c.kind == RequestKind.EXTEND.value)
        if except_id:
            q = q.where(t.requests.c.id != except_id)
        row = (await self.conn.execute(q)).first()
        return _request(row) if row else None

    async def request(self, request_id: str, *, lock: bool = False) -> AccessRequest | None:
        """The request with its votes; `lock` takes the row lock (PostgreSQL) for a vote."""
        q = select(t.requests).where(t.requests.c.id == request_id)
        if lock and self.pg:
            q = q.with_for_update()
        row = (await self.conn.execute(q)).first()
        if row is None:
            return None
        vrows = (await self.conn.execute(
            select(t.votes).where(t.votes.c.request_id == request_id).order_by(t.votes.c.at)
        )).all()
        votes = [Vote(v.request_id, v.voter, VoteChoice(v.choice), v.at) for v in vrows]
        return _request(row, votes)

    async def add_vote(self, vote: Vote) -> bool:
        """Record a vote; False when this voter already voted on this request."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(insert(t.votes).values(
                    request_id=vote.request_id, voter=vote.voter, choice=vote.choice.value, at=vote.at))
        except IntegrityError:
            return False
        return True

    async def move_request(self, request_id: str, frm: RequestState, to: RequestState, **fields: Any) -> bool:
        """Compare-and-swap a request's state; False when it was no longer `frm`."""
        res = await self.conn.execute(
            update(t.requests).where(t.requests.c.id == request_id, t.requests.c.state == frm.value)
            .values(state=to.value, **fields))
        return res.rowcount == 1

    async def pending_request_for(self, requester: str, role: str, *,
                                  except_id: str | None = None) -> AccessRequest | None:
        """The requester's pending new-grant request for the role (other than `except_id`), if any."""
        q = select(t.requests).where(
            t.requests.c.requester == requester, t.requests.c.role == role,
            t.requests.c.state == RequestState.PENDING.value, t.requests.c.kind == RequestKind.NEW.value)
        if except_id:
            q = q.where(t.requests.c.id != except_id)
        row = (await self.conn.execute(q)).first()
        return _request(row) if row else None

    async def requests_of(self, requester: str, state: RequestState = RequestState.PENDING) -> list[AccessRequest]:
        """The requester's requests in a state, oldest first."""
        rows = (await self.conn.execute(select(t.requests).where(
            t.requests.c.requester == requester, t.requests.c.state == state.value,
        ).order_by(t.requests.c.created_at))).all()
        return [_request(r) for r in rows]

    async def pending_requests(self) -> list[AccessRequest]:
        """Every pending request, oldest first."""
        rows = (await self.conn.execute(select(t.requests).where(
            t.requests.c.state == RequestState.PENDING.value).order_by(t.requests.c.created_at))).all()
        return [_request(r) for r in rows]

    async def due_request_expiries(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of pending requests whose timeout has come."""
        rows = await self.conn.execute(select(t.requests.c.id).where(
            t.requests.c.state == RequestState.PENDING.value, t.requests.c.expires_at <= now,
        ).order_by(t.requests.c.expires_at).limit(limit))
        return [r.id for r in rows]

    # ---- grants -------------------------------------------------------------------------
    async def add_grant(self, g: Grant) -> Inserted:
        """Insert a new grant; ID_TAKEN when its ID exists, CONFLICT when the person already holds the role."""
        return await self._insert_unique(t.grants, g.id, dict(
            request_id=g.request_id, role=g.role, requester=g.requester, email=g.email,
            account_id=g.account_id, group_id=g.group_id, duration_s=int(g.duration.total_seconds()),
            created_at=g.created_at, state=g.state.value, warned=False, revoke_sessions=g.revoke_sessions,
        ))

    async def extend_grant(self, grant_id: str, old_expiry: datetime, new_expiry: datetime,
                           warn_at: datetime | None) -> bool:
        """Move an active grant's end from `old_expiry` to `new_expiry`; False when it is no longer active or
        its end has moved since it was read (compare-and-set: two extensions never both add to one end)."""
        res = await self.conn.execute(update(t.grants).where(
            t.grants.c.id == grant_id, t.grants.c.state == GrantState.ACTIVE.value,
            t.grants.c.expires_at == old_expiry,
        ).values(expires_at=new_expiry, warn_at=warn_at, warned=False))
        return res.rowcount == 1

    async def grant(self, grant_id: str, *, lock: bool = False) -> Grant | None:
        """The grant, or None."""
        q = select(t.grants).where(t.grants.c.id == grant_id)
        if lock and self.pg:
            q = q.with_for_update()
        row = (await self.conn.execute(q)).first()
        return _grant(row) if row else None

    async def move_grant(self, grant_id: str, frm: tuple[GrantState, ...], to: GrantState, **fields: Any) -> bool:
        """Compare-and-swap a grant's state; False when it was in none of `frm`."""
        res = await self.conn.execute(
            update(t.grants).where(t.grants.c.id == grant_id, t.grants.c.state.in_([s.value for s in frm]))
            .values(state=to.value, **fields))
        return res.rowcount == 1

    async def update_grant(self, grant_id: str, state: GrantState, **fields: Any) -> bool:
        """Change fields of a grant that is still in `state`."""
        res = await self.conn.execute(
            update(t.grants).where(t.grants.c.id == grant_id, t.grants.c.state == state.value).values(**fields))
        return res.rowcount == 1

    async def live_grant_for(self, requester: str, role: str) -> Grant | None:
        """The requester's pending or active grant of the role, if any."""
        row = (await self.conn.execute(select(t.grants).where(
            t.grants.c.requester == requester, t.grants.c.role == role,
            t.grants.c.state.in_([GrantState.PENDING.value, GrantState.ACTIVE.value]),
        ))).first()
        return _grant(row) if row else None

    async def grants(
        self, *, states: tuple[GrantState, ...] | None = None, requester: str | None = None,
        email: str | None = None, role: str | None = None, account_id: str | None = None,
        group_id: str | None = None, request_id: str | None = None, limit: int | None = None,
    ) -> list[Grant]:
        """Grants matching every filter given, oldest first."""
        q = select(t.grants)
        conds = []
        if states:
            conds.append(t.grants.c.state.in_([s.value for s in states]))
        for col, val in (("requester", requester), ("role", role), ("account_id", account_id),
                         ("group_id", group_id), ("request_id", request_id)):
            if val is not None:
                conds.append(t.grants.c[col] == val)
        if email is not None:
            conds.append(func.lower(t.grants.c.email) == email.lower())
        if conds:
            q = q.where(and_(*conds))
        q = q.order_by(t.grants.c.created_at, t.grants.c.id)
        if limit:
            q = q.limit(limit)
        return [_grant(r) for r in (await self.conn.execute(q)).all()]

    async def due_grant_expiries(self, now: datetime, limit: int = 200) -> list[str]:
        """IDs of active grants whose time is up."""
        rows = await self.conn.execute(select(t.grants.c.id).where(
            t.grants.c.state == GrantState.ACTIVE.value, t.grants.c.expires_at <= now,
        ).order_by(t.grants.c.expires_at).limit(limit))
        return [r.id for r in rows]

    async def due_warnings(self, now: datetime, limit: int = 200) -> list[str]:
        """IDs of active grants whose expiry warning is due."""
        rows = await self.conn.execute(select(t.grants.c.id).where(
            t.grants.c.state == GrantState.ACTIVE.value, t.grants.c.warned.is_(False),
            t.grants.c.warn_at <= now,
        ).limit(limit))
        return [r.id for r in rows]

    async def next_due(self) -> datetime | None:
        """The earliest moment anything falls due: an expiry, a warning, a request timeout, an effect."""
        q = select(
            select(func.min(t.grants.c.expires_at)).where(t.grants.c.state == GrantState.ACTIVE.value)
            .scalar_subquery(),
            select(func.min(t.grants.c.warn_at)).where(
                t.grants.c.state == GrantState.ACTIVE.value, t.grants.c.warned.is_(False)).scalar_subquery(),
            select(func.min(t.requests.c.expires_at)).where(
                t.requests.c.state == RequestState.PENDING.value).scalar_subquery(),
            select(func.min(t.effects.c.next_at)).where(t.effects.c.state == "pending").scalar_subquery(),
        )
        row = (await self.conn.execute(q)).one()
        times = [t.UTCDateTime().process_result_value(v, self.conn.dialect) if isinstance(v, datetime) else
                 _parse_sqlite_dt(v) for v in row if v is not None]
        return min(times) if times else None

    # ---- approval messages and managed members -------------------------------------------
    async def add_approval_message(self, request_id: str, channel: str, ts: str, approver: str | None) -> None:
        """Remember where an approval message was posted."""
        await self.conn.execute(insert(t.approval_messages).values(
            request_id=request_id, channel=channel, ts=ts, approver=approver))

    async def approval_messages(self, request_id: str) -> list[Any]:
        """Where the request's approval message(s) were posted (channel, ts, approver)."""
        return list((await self.conn.execute(select(t.approval_messages).where(
            t.approval_messages.c.request_id == request_id))).all())

    async def managed_emails(self, account_id: str, group_id: str) -> set[str]:
        """Lower-cased emails whose rule in the group the bot added."""
        rows = await self.conn.execute(select(t.managed_members.c.email).where(
            t.managed_members.c.account_id == account_id, t.managed_members.c.group_id == group_id))
        return {r.email for r in rows}

    async def managed_groups(self) -> set[tuple[str, str]]:
        """Every (account, group) the bot has added an email to."""
        rows = await self.conn.execute(select(t.managed_members.c.account_id, t.managed_members.c.group_id)
                                       .distinct())
        return {(r.account_id, r.group_id) for r in rows}

    async def add_managed(self, account_id: str, group_id: str, emails: set[str]) -> None:
        """Record that the bot owns these emails' rules in the group (before it PUTs them)."""
        have = await self.managed_emails(account_id, group_id)
        for email in sorted({e.lower() for e in emails} - have):
            await self.conn.execute(insert(t.managed_members).values(
                account_id=account_id, group_id=group_id, email=email, added_at=self.clock.now()))

    async def remove_managed(self, account_id: str, group_id: str, emails: set[str]) -> None:
        """Forget the bot's ownership of these emails' rules in the group."""
        if emails:
            await self.conn.execute(delete(t.managed_members).where(
                t.managed_members.c.account_id == account_id, t.managed_members.c.group_id == group_id,
                t.managed_members.c.email.in_(sorted({e.lower() for e in emails}))))

    # ---- effects (the outbox) -----------------------------------------------------------
    async def enqueue(self, kind: str, payload: dict[str, Any], *, key: str | None = None,
                      at: datetime | None = None, lane: int | None = None) -> None:
        """Owe a side effect, committed with the state change that owes it (in `lane`, else its kind's)."""
        now = self.clock.now()
        await self.conn.execute(insert(t.effects).values(
            kind=kind, key=key or kind, payload=payload, state="pending", attempts=0, next_at=at or now,
            created_at=now, alerts=0, lane=lane_of(kind) if lane is None else lane))
        if self.pg and not self.enqueued:
            # Delivered at commit: wakes the other replicas' schedulers (bot.storage.notify).
            await self.conn.execute(text("SELECT pg_notify('accessbot_work', '')"))
        self.enqueued = True

    async def owe(self, effect: Effect, *, at: datetime | None = None) -> None:
        """Owe a typed effect, committed with the state change that owes it (bot.domain.effects encodes it)."""
        kind, payload, key, lane = encode(effect)
        await self.enqueue(kind, payload, key=key, at=at, lane=lane)

    async def due_keys(self, now: datetime, *, per_lane: int = KEYS_PER_LANE) -> list[tuple[str, int]]:
        """Keys with effects due now: Cloudflare removals first, then adds, other Cloudflare work, the rest.

        Each lane is a query of its own with its own limit (keys whose work fell due first come first),
        so however many effects wait in one lane the others' keys are still found. The query walks the
        lane's distinct keys on the (state, lane, key, next_at) index, one seek per key (a recursive
        CTE, the loose index scan both databases lack), so its cost follows the number of keys, not
        the thousands of notices a Slack outage piles up. Each key comes with its most urgent lane."""
        keys: list[tuple[str, int]] = []
        seen: set[str] = set()
        for lane in LANES:
            rows = await self.conn.execute(_DUE_KEYS, {"lane": lane, "now": now, "limit": per_lane})
            for row in rows:
                if row.key not in seen:
                    seen.add(row.key)
                    keys.append((row.key, lane))
        return keys

    async def due_effects(self, now: datetime, limit: int = 50) -> list[Any]:
        """Pending effects whose time has come, oldest first (to see whether anything is due; the
        scheduler claims by `due_keys`, never from this one window)."""
        return list((await self.conn.execute(select(t.effects).where(
            t.effects.c.state == "pending", t.effects.c.next_at <= now,
        ).order_by(t.effects.c.id).limit(limit))).all())

    async def effect(self, effect_id: int) -> Any:
        """One effect row."""
        return (await self.conn.execute(select(t.effects).where(t.effects.c.id == effect_id))).first()

    async def pending_effects_for_key(self, key: str) -> list[Any]:
        """Pending effects sharing a key (all the syncs owed to one group)."""
        return list((await self.conn.execute(select(t.effects).where(
            t.effects.c.key == key, t.effects.c.state == "pending").order_by(t.effects.c.id))).all())

    async def postpone_key(self, key: str, at: datetime) -> None:
        """Nothing of this key is tried before `at` (a rate limit): its pending effects due earlier wait."""
        await self.conn.execute(update(t.effects).where(
            t.effects.c.key == key, t.effects.c.state == "pending", t.effects.c.next_at < at).values(next_at=at))

    async def finish_effects(self, ids: list[int], state: str = "done", error: str | None = None) -> None:
        """Mark effects done (or dead) if still pending."""
        if ids:
            await self.conn.execute(update(t.effects).where(
                t.effects.c.id.in_(ids), t.effects.c.state == "pending",
            ).values(state=state, done_at=self.clock.now(), last_error=error))

    async def retry_effects(self, ids: list[int], at: datetime, error: str, *, first_failed_at: datetime,
                            next_alert_at: datetime | None = None, alerts: int | None = None) -> None:
        """Push pending effects to a later attempt, remembering the error and when failing began."""
        values: dict[str, Any] = {"next_at": at, "last_error": error[:2000], "attempts": t.effects.c.attempts + 1,
                                  "first_failed_at": first_failed_at}
        if next_alert_at is not None:
            values["next_alert_at"] = next_alert_at
        if alerts is not None:
            values["alerts"] = alerts
        await self.conn.execute(update(t.effects).where(
            t.effects.c.id.in_(ids), t.effects.c.state == "pending").values(**values))

    async def effect_counts(self) -> dict[str, int]:
        """How many effects are in each state."""
        rows = await self.conn.execute(select(t.effects.c.state, func.count()).group_by(t.effects.c.state))
        return {r[0]: r[1] for r in rows}

    # ---- audit --------------------------------------------------------------------------
    async def audit(self, event: AuditEvent) -> dict[str, Any]:
        """Append an event to the hash chain (serialised across processes) and return its row."""
        if self.pg:
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK})
        last = (await self.conn.execute(
            select(t.audit_log.c.seq, t.audit_log.c.hash).order_by(t.audit_log.c.seq.desc()).limit(1))).first()
        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
        record = seal(event, seq, self.clock.now(), prev)
        from bot.domain.audit import canonical_json

        await self.conn.execute(insert(t.audit_log).values(
            **{**record, "details": canonical_json(record["details"])}))
        self.audited.append(record)
        return record

    async def audit_rows(self, *, since_seq: int = 0, since_at: str | None = None, limit: int | None = None,
                         action: str | None = None, role: str | None = None, actor: str | None = None,
                         subject: str | None = None, newest: bool = False) -> list[dict[str, Any]]:
        """Audit rows in order (oldest first unless `newest`), filtered; `actor` and `subject` together
        mean either one (a person's events: what they did, and what was done about them)."""
        q = select(t.audit_log).where(t.audit_log.c.seq > since_seq)
        if since_at:
            q = q.where(t.audit_log.c.at >= since_at)
        if action:
            q = q.where(t.audit_log.c.action == action)
        if role:
            q = q.where(t.audit_log.c.role == role)
        people = [c == v for c, v in ((t.audit_log.c.actor, actor), (t.audit_log.c.subject, subject)) if v]
        if people:
            q = q.where(or_(*people))
        q = q.order_by(t.audit_log.c.seq.desc() if newest else t.audit_log.c.seq)
        if limit:
            q = q.limit(limit)
        rows = [audit_row(r) for r in (await self.conn.execute(q)).all()]
        return list(reversed(rows)) if newest else rows

    # ---- App Home viewers ---------------------------------------------------------------
    async def saw_home(self, user_id: str) -> None:
        """Remember that this user opened the App Home (their Home is kept fresh from now on)."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(insert(t.home_viewers).values(user_id=user_id, opened_at=self.clock.now()))
        except IntegrityError:
            pass

    async def home_viewers(self, user_ids: list[str]) -> list[str]:
        """Those of `user_ids` who have opened the App Home, in the given order."""
        if not user_ids:
            return []
        rows = await self.conn.execute(select(t.home_viewers.c.user_id).where(
            t.home_viewers.c.user_id.in_(sorted(set(user_ids)))))
        seen = {r.user_id for r in rows}
        return [u for u in dict.fromkeys(user_ids) if u in seen]

    # ---- deliveries ---------------------------------------------------------------------
    async def first_delivery(self, key: str) -> bool:
        """True the first time a delivery key is seen (Slack retries carry the same event_id)."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(insert(t.deliveries).values(key=key[:200], at=self.clock.now()))
        except IntegrityError:
            return False
        return True


def _parse_sqlite_dt(value: Any) -> datetime:
    """SQLite's MIN() hands back the stored text; read it as UTC."""
    from datetime import UTC

    dt = datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class Store:
    """Opens units of work; on SQLite one writer at a time inside the process."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.pg = engine.dialect.name == "postgresql"
        self._write_lock = asyncio.Lock()
        # the first hook logs every committed audit event (each state change is one): bot.logging_setup
        self.after_commit: list[Callable[[Tx], None]] = [lambda tx: log_audited(tx.audited)]

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Tx]:
        """A transaction: commits when the block ends, rolls back on an exception."""
        if self.pg:
            async with self.engine.begin() as conn:
                tx = Tx(conn, self.clock, True)
                yield tx
        else:
            async with self._write_lock, self.engine.connect() as conn:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
                tx = Tx(conn, self.clock, False)
                try:
                    yield tx
                except BaseException:
                    await conn.rollback()
                    raise
                await conn.commit()
        for hook in self.after_commit:
            hook(tx)
