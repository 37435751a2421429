"""Grants in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, select, true, tuple_, update

from bot.domain.model import Grant, GrantState
from bot.domain.repositories import Inserted
from bot.storage import tables as t
from bot.storage.repos.base import SqlRepo
from bot.storage.repos.counts import counts_of

# IDs per statement in the bulk moves (well inside both databases' limits on bound parameters).
ID_CHUNK = 1000


def grant_of(row: Any) -> Grant:
    """A grants row as the domain's Grant."""
    return Grant(
        id=row.id, request_id=row.request_id, role=row.role, requester=row.requester, email=row.email,
        account_id=row.account_id, group_id=row.group_id, duration=timedelta(seconds=row.duration_s),
        created_at=row.created_at, state=GrantState(row.state), granted_at=row.granted_at,
        expires_at=row.expires_at, warn_at=row.warn_at, warned=bool(row.warned), revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason, revoke_actor=row.revoke_actor,
        revoke_sessions=bool(row.revoke_sessions), failure=row.failure,
        break_glass=bool(row.break_glass), acknowledged_by=row.acknowledged_by, acknowledged_at=row.acknowledged_at,
        review_remind_at=row.review_remind_at, review_reminders=row.review_reminders or 0,
    )


def _state_filter(states: tuple[GrantState, ...], *, paged: bool) -> Any:
    """`state IN (...)`; for a page of most states, `state NOT IN` the others: the same rows, but SQLite then
    walks the creation-ordered index and stops after a page instead of sorting every match of each state."""
    others = [s.value for s in GrantState if s not in states]
    if paged and len(others) < len(states):
        return t.grants.c.state.not_in(others) if others else true()
    return t.grants.c.state.in_([s.value for s in states])


class SqlGrants(SqlRepo):
    """The Grants repository on the grants table."""

    async def add(self, g: Grant) -> Inserted:
        """Insert a new grant; ID_TAKEN when its ID exists, CONFLICT when the person already holds the role."""
        return await self._insert_unique(t.grants, g.id, dict(
            request_id=g.request_id, role=g.role, requester=g.requester, email=g.email,
            account_id=g.account_id, group_id=g.group_id, duration_s=int(g.duration.total_seconds()),
            created_at=g.created_at, state=g.state.value, warned=False, revoke_sessions=g.revoke_sessions,
        ))

    async def extend(self, grant_id: str, old_expiry: datetime, new_expiry: datetime,
                     warn_at: datetime | None) -> bool:
        """Move an active grant's end from `old_expiry` to `new_expiry`; False when it is no longer active or
        its end has moved since it was read (compare-and-set: two extensions never both add to one end)."""
        res = await self.conn.execute(update(t.grants).where(
            t.grants.c.id == grant_id, t.grants.c.state == GrantState.ACTIVE.value,
            t.grants.c.expires_at == old_expiry,
        ).values(expires_at=new_expiry, warn_at=warn_at, warned=False))
        return res.rowcount == 1

    async def get(self, grant_id: str, *, lock: bool = False) -> Grant | None:
        """The grant, or None."""
        q = select(t.grants).where(t.grants.c.id == grant_id)
        if lock and self.pg:
            q = q.with_for_update()
        row = (await self.conn.execute(q)).first()
        return grant_of(row) if row else None

    async def move(self, grant_id: str, frm: tuple[GrantState, ...], to: GrantState, **fields: Any) -> bool:
        """Compare-and-swap a grant's state; False when it was in none of `frm`."""
        res = await self.conn.execute(
            update(t.grants).where(t.grants.c.id == grant_id, t.grants.c.state.in_([s.value for s in frm]))
            .values(state=to.value, **fields))
        return res.rowcount == 1

    async def update(self, grant_id: str, state: GrantState, **fields: Any) -> bool:
        """Change fields of a grant that is still in `state`."""
        res = await self.conn.execute(
            update(t.grants).where(t.grants.c.id == grant_id, t.grants.c.state == state.value).values(**fields))
        return res.rowcount == 1

    async def move_many(self, grant_ids: list[str], frm: tuple[GrantState, ...], to: GrantState, *,
                        due_by: datetime | None = None, **fields: Any) -> list[Grant]:
        """Compare-and-set many grants' state with one UPDATE ... RETURNING per ID_CHUNK IDs (the state, and the
        end when `due_by` is given, are checked in the statement); the grants that moved, as they are now."""
        moved: list[Grant] = []
        for start in range(0, len(grant_ids), ID_CHUNK):
            conds = [t.grants.c.id.in_(grant_ids[start:start + ID_CHUNK]),
                     t.grants.c.state.in_([s.value for s in frm])]
            if due_by is not None:
                conds.append(t.grants.c.expires_at <= due_by)
            res = await self.conn.execute(update(t.grants).where(*conds).values(state=to.value, **fields)
                                          .returning(*t.grants.c))
            moved += [grant_of(r) for r in res.all()]
        return moved

    async def activate_many(self, starts: list[tuple[str, datetime, datetime | None]],
                            granted_at: datetime) -> list[str]:
        """Move pending grants to active in bulk (compare-and-set on pending), then give each moved one its own end
        and warning time in one executemany UPDATE; the IDs that moved."""
        moved = {g.id for g in await self.move_many([s[0] for s in starts], (GrantState.PENDING,),
                                                    GrantState.ACTIVE, granted_at=granted_at)}
        times = [{"b_id": gid, "b_end": end, "b_warn": warn} for gid, end, warn in starts if gid in moved]
        if times:
            await self.conn.execute(update(t.grants).where(t.grants.c.id == bindparam("b_id"))
                                    .values(expires_at=bindparam("b_end"), warn_at=bindparam("b_warn")), times)
        return [s[0] for s in starts if s[0] in moved]

    async def live_for(self, requester: str, role: str) -> Grant | None:
        """The requester's pending or active grant of the role, if any."""
        row = (await self.conn.execute(select(t.grants).where(
            t.grants.c.requester == requester, t.grants.c.role == role,
            t.grants.c.state.in_([GrantState.PENDING.value, GrantState.ACTIVE.value]),
        ))).first()
        return grant_of(row) if row else None

    async def find(
        self, *, states: tuple[GrantState, ...] | None = None, requester: str | None = None,
        email: str | None = None, role: str | None = None, account_id: str | None = None,
        group_id: str | None = None, request_id: str | None = None, limit: int | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> list[Grant]:
        """Grants matching every filter given, oldest first (creation time, then ID), after `after` if given.
        Each filter has an index ordered the same way (requester and state, lower(email), state, creation), so a
        page of `limit` reads about `limit` rows (bot.storage.tables; tests/integration/test_read_plans.py)."""
        q = select(t.grants)
        conds = []
        if states:
            conds.append(_state_filter(states, paged=limit is not None))
        for col, val in (("requester", requester), ("role", role), ("account_id", account_id),
                         ("group_id", group_id), ("request_id", request_id)):
            if val is not None:
                conds.append(t.grants.c[col] == val)
        if email is not None:
            conds.append(func.lower(t.grants.c.email) == email.lower())
        if after is not None:
            conds.append(tuple_(t.grants.c.created_at, t.grants.c.id) > tuple_(
                bindparam("after_at", after[0], type_=t.UTCDateTime()), bindparam("after_id", after[1])))
        if conds:
            q = q.where(and_(*conds))
        q = q.order_by(t.grants.c.created_at, t.grants.c.id)
        if limit:
            q = q.limit(limit)
        return [grant_of(r) for r in (await self.conn.execute(q)).all()]

    async def recent(self, requester: str, states: tuple[GrantState, ...], limit: int) -> list[Grant]:
        """The requester's latest grants in `states`, newest first."""
        q = select(t.grants).where(t.grants.c.requester == requester,
                                   t.grants.c.state.in_([s.value for s in states]))
        q = q.order_by(t.grants.c.created_at.desc(), t.grants.c.id.desc()).limit(limit)
        return [grant_of(r) for r in (await self.conn.execute(q)).all()]

    async def due_expiries(self, now: datetime, limit: int = 200) -> list[str]:
        """IDs of active grants whose time is up."""
        rows = await self.conn.execute(select(t.grants.c.id).where(
            t.grants.c.state == GrantState.ACTIVE.value, t.grants.c.expires_at <= now,
        ).order_by(t.grants.c.expires_at).limit(limit))
        return [r.id for r in rows]

    async def counts_by_state(self) -> dict[str, int]:
        """How many grants are in each state (kept by triggers in state_counts: no scan of the grants)."""
        return await counts_of(self.conn, "grants", pg=self.pg)

    async def oldest_overdue(self, now: datetime) -> datetime | None:
        """The earliest `expires_at` of a grant that still holds access (active or revoking) past it."""
        return (await self.conn.execute(select(t.grants.c.expires_at).where(
            t.grants.c.state.in_([GrantState.ACTIVE.value, GrantState.REVOKING.value]), t.grants.c.expires_at <= now)
            .order_by(t.grants.c.expires_at).limit(1))).scalar()

    async def due_warnings(self, now: datetime, limit: int = 200) -> list[str]:
        """IDs of active grants whose expiry warning is due."""
        rows = await self.conn.execute(select(t.grants.c.id).where(
            t.grants.c.state == GrantState.ACTIVE.value, t.grants.c.warned.is_(False),
            t.grants.c.warn_at <= now,
        ).limit(limit))
        return [r.id for r in rows]

    async def due_reviews(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of break-glass grants not yet acknowledged whose review reminder has come."""
        rows = await self.conn.execute(select(t.grants.c.id).where(
            t.grants.c.review_remind_at <= now, t.grants.c.acknowledged_at.is_(None),
        ).order_by(t.grants.c.review_remind_at).limit(limit))
        return [r.id for r in rows]

    async def mark_review_reminded(self, grant_id: str, sent: int, next_at: datetime) -> bool:
        """Compare-and-set: count review reminder `sent + 1` of an unacknowledged break-glass grant; False when
        another process counted it first or an admin acknowledged it."""
        res = await self.conn.execute(update(t.grants).where(
            t.grants.c.id == grant_id, t.grants.c.acknowledged_at.is_(None), t.grants.c.review_reminders == sent,
            t.grants.c.review_remind_at.is_not(None),
        ).values(review_reminders=sent + 1, review_remind_at=next_at))
        return res.rowcount == 1

    async def acknowledge(self, grant_id: str, by: str, at: datetime) -> bool:
        """Compare-and-set: record the review of a break-glass grant once; False when it is not one or was
        acknowledged already."""
        res = await self.conn.execute(update(t.grants).where(
            t.grants.c.id == grant_id, t.grants.c.break_glass.is_(True), t.grants.c.acknowledged_at.is_(None),
        ).values(acknowledged_by=by, acknowledged_at=at, review_remind_at=None))
        return res.rowcount == 1
