"""Requests and their votes in SQL."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.domain.model import AccessRequest, OnCallApprover, RequestKind, RequestState, Vote, VoteChoice
from bot.domain.repositories import Inserted
from bot.storage import tables as t
from bot.storage.repos.base import SqlRepo


def request_of(row: Any, votes: list[Vote] | None = None) -> AccessRequest:
    """A requests row (and its votes) as the domain's AccessRequest."""
    return AccessRequest(
        id=row.id, role=row.role, requester=row.requester, email=row.email,
        duration=timedelta(seconds=row.duration_s), reason=row.reason, created_at=row.created_at,
        expires_at=row.expires_at, state=RequestState(row.state), kind=RequestKind(row.kind),
        grant_id=row.grant_id, decided_by=row.decided_by, decided_at=row.decided_at,
        decision_note=row.decision_note or "", votes=votes or [], starts_at=row.starts_at,
        remind_at=row.remind_at, reminders_sent=row.reminders_sent or 0, escalate_at=row.escalate_at,
        escalated_at=row.escalated_at,
    )


class SqlRequests(SqlRepo):
    """The Requests repository on the requests and votes tables."""

    async def add(self, r: AccessRequest) -> Inserted:
        """Insert a new request; ID_TAKEN when its ID exists, CONFLICT when a one-pending rule forbids it."""
        return await self._insert_unique(t.requests, r.id, dict(
            role=r.role, requester=r.requester, email=r.email,
            duration_s=int(r.duration.total_seconds()), reason=r.reason, created_at=r.created_at,
            expires_at=r.expires_at, state=r.state.value, kind=r.kind.value, grant_id=r.grant_id,
            decision_note="",
            # a scheduled start (migration 0007); left out when there is none, so rows without one are written
            # the same on every schema since 0001
            **({"starts_at": r.starts_at} if r.starts_at is not None else {}),
            # the timers only when set: a request without them inserts as before migration 0008
            **{k: v for k, v in (("remind_at", r.remind_at), ("escalate_at", r.escalate_at)) if v is not None},
        ))

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
        return request_of(row) if row else None

    async def get(self, request_id: str, *, lock: bool = False) -> AccessRequest | None:
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
        return request_of(row, votes)

    async def add_vote(self, vote: Vote) -> bool:
        """Record a vote; False when this voter already voted on this request."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(insert(t.votes).values(
                    request_id=vote.request_id, voter=vote.voter, choice=vote.choice.value, at=vote.at))
        except IntegrityError:
            return False
        return True

    async def move(self, request_id: str, frm: RequestState, to: RequestState, **fields: Any) -> bool:
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
        return request_of(row) if row else None

    async def of(self, requester: str, state: RequestState = RequestState.PENDING) -> list[AccessRequest]:
        """The requester's requests in a state, oldest first."""
        rows = (await self.conn.execute(select(t.requests).where(
            t.requests.c.requester == requester, t.requests.c.state == state.value,
        ).order_by(t.requests.c.created_at))).all()
        return [request_of(r) for r in rows]

    async def pending(self, roles: Collection[str] | None = None, ids: Collection[str] = ()) -> list[AccessRequest]:
        """Every pending request, oldest first; given `roles`, only those of these roles or with these `ids`."""
        q = select(t.requests).where(t.requests.c.state == RequestState.PENDING.value)
        if roles is not None:
            q = q.where(or_(t.requests.c.role.in_(list(roles)), t.requests.c.id.in_(list(ids))))
        rows = (await self.conn.execute(q.order_by(t.requests.c.created_at))).all()
        return [request_of(r) for r in rows]

    async def pending_roles(self) -> set[str]:
        """The roles some pending request is for."""
        rows = await self.conn.execute(select(t.requests.c.role).distinct().where(
            t.requests.c.state == RequestState.PENDING.value))
        return {r.role for r in rows}

    async def due_expiries(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of pending requests whose timeout has come."""
        rows = await self.conn.execute(select(t.requests.c.id).where(
            t.requests.c.state == RequestState.PENDING.value, t.requests.c.expires_at <= now,
        ).order_by(t.requests.c.expires_at).limit(limit))
        return [r.id for r in rows]

    async def due_starts(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of requests approved ahead whose scheduled start has come, soonest first."""
        rows = await self.conn.execute(select(t.requests.c.id).where(
            t.requests.c.state == RequestState.SCHEDULED.value, t.requests.c.starts_at <= now,
        ).order_by(t.requests.c.starts_at).limit(limit))
        return [r.id for r in rows]

    async def due_reminders(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of pending requests whose next reminder has come."""
        rows = await self.conn.execute(select(t.requests.c.id).where(
            t.requests.c.state == RequestState.PENDING.value, t.requests.c.remind_at <= now,
        ).order_by(t.requests.c.remind_at).limit(limit))
        return [r.id for r in rows]

    async def due_escalations(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of pending requests whose escalation has come and not happened."""
        rows = await self.conn.execute(select(t.requests.c.id).where(
            t.requests.c.state == RequestState.PENDING.value, t.requests.c.escalate_at <= now,
            t.requests.c.escalated_at.is_(None),
        ).order_by(t.requests.c.escalate_at).limit(limit))
        return [r.id for r in rows]

    async def mark_reminded(self, request_id: str, sent: int, next_at: datetime | None) -> bool:
        """Compare-and-set: count reminder `sent + 1` of a pending request that has had `sent`, and schedule the
        next (None: no more); False when another process counted it first or the request was decided."""
        res = await self.conn.execute(update(t.requests).where(
            t.requests.c.id == request_id, t.requests.c.state == RequestState.PENDING.value,
            t.requests.c.reminders_sent == sent, t.requests.c.remind_at.is_not(None),
        ).values(reminders_sent=sent + 1, remind_at=next_at))
        return res.rowcount == 1

    async def mark_escalated(self, request_id: str, at: datetime) -> bool:
        """Compare-and-set: escalate a pending request once; False when it was escalated or decided already."""
        res = await self.conn.execute(update(t.requests).where(
            t.requests.c.id == request_id, t.requests.c.state == RequestState.PENDING.value,
            t.requests.c.escalated_at.is_(None), t.requests.c.escalate_at.is_not(None),
        ).values(escalated_at=at, escalate_at=None))
        return res.rowcount == 1

    async def add_oncall_approvers(self, approvers: list[OnCallApprover]) -> None:
        """Make these on-call people approvers of their request (a person already there is kept once)."""
        for a in approvers:
            try:
                async with self.conn.begin_nested():
                    await self.conn.execute(insert(t.oncall_approvers).values(
                        request_id=a.request_id, user_id=a.user, email=a.email, schedule_id=a.schedule_id))
            except IntegrityError:
                continue

    async def oncall_approvers(self, request_id: str) -> list[OnCallApprover]:
        """The request's on-call approvers, in the order they were added."""
        rows = await self.conn.execute(select(t.oncall_approvers).where(
            t.oncall_approvers.c.request_id == request_id).order_by(t.oncall_approvers.c.seq))
        return [OnCallApprover(r.request_id, r.user_id, r.email, r.schedule_id) for r in rows]

    async def oncall_requests_of(self, user: str) -> set[str]:
        """IDs of the requests this person is an on-call approver of."""
        rows = await self.conn.execute(select(t.oncall_approvers.c.request_id).where(
            t.oncall_approvers.c.user_id == user))
        return {r.request_id for r in rows}
