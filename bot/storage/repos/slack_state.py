"""Slack conversation state in SQL: approval messages, App Home viewers, delivery keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from bot.domain.repositories import PRUNE_BATCH
from bot.storage import tables as t
from bot.storage.repos.base import SqlRepo


class SqlSlackState(SqlRepo):
    """The SlackState repository on the approval_messages, audit_threads and home_viewers tables."""

    async def add_approval_message(self, request_id: str, channel: str, ts: str, approver: str | None) -> None:
        """Remember where an approval message was posted."""
        await self.conn.execute(insert(t.approval_messages).values(
            request_id=request_id, channel=channel, ts=ts, approver=approver))

    async def approval_messages(self, request_id: str) -> list[Any]:
        """Where the request's approval message(s) were posted (channel, ts, approver)."""
        return list((await self.conn.execute(select(t.approval_messages).where(
            t.approval_messages.c.request_id == request_id))).all())

    async def audit_thread(self, request_id: str, channel: str) -> str | None:
        """The ts of the request's thread in the audit channel `channel`, or None when it has none there yet."""
        row = (await self.conn.execute(select(t.audit_threads.c.ts).where(
            t.audit_threads.c.request_id == request_id, t.audit_threads.c.channel == channel))).first()
        return row.ts if row else None

    async def add_audit_thread(self, request_id: str, channel: str, ts: str) -> None:
        """Remember the request's thread in the audit channel (a later channel replaces an earlier one)."""
        await self.conn.execute(delete(t.audit_threads).where(t.audit_threads.c.request_id == request_id))
        await self.conn.execute(insert(t.audit_threads).values(request_id=request_id, channel=channel, ts=ts))

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


class SqlDeliveries(SqlRepo):
    """The Deliveries repository on the deliveries table."""

    async def first(self, key: str) -> bool:
        """True the first time a delivery key is seen (Slack retries carry the same event_id)."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(insert(t.deliveries).values(key=key[:200], at=self.clock.now()))
        except IntegrityError:
            return False
        return True

    async def first_of(self, keys: Sequence[str]) -> set[str]:
        """Record every key in one statement (a key already there is left as it is); the ones (as given) seen
        for the first time. A key is cut to 200 characters, like `first`'s."""
        cut = {key: key[:200] for key in keys}
        if not cut:
            return set()
        now = self.clock.now()
        # executemany-style parameters, not .values([...]): the statement's compiled form is cached (a VALUES
        # list of rows is compiled anew each time); SQLAlchemy still sends one INSERT of every row
        stmt = (pg_insert if self.pg else sqlite_insert)(t.deliveries)
        stmt = stmt.on_conflict_do_nothing(index_elements=["key"]).returning(t.deliveries.c.key)
        rows = await self.conn.execute(stmt, [{"key": k, "at": now} for k in dict.fromkeys(cut.values())])
        new = {r.key for r in rows}
        return {key for key, short in cut.items() if short in new}

    async def prune(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Forget up to `limit` delivery keys first seen before `before`; how many went. No ORDER BY: `at` has no
        index, and a sort would read every old key for each batch."""
        old = select(t.deliveries.c.key).where(t.deliveries.c.at < before).limit(limit)
        keys = [r.key for r in await self.conn.execute(old)]
        if keys:
            await self.conn.execute(delete(t.deliveries).where(t.deliveries.c.key.in_(keys)))
        return len(keys)
