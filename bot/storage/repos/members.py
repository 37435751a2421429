"""The bot's own members of Cloudflare groups, in SQL."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from bot.storage import tables as t
from bot.storage.repos.base import SqlRepo


class SqlMembers(SqlRepo):
    """The Members repository on the managed_members table."""

    async def emails(self, account_id: str, group_id: str) -> set[str]:
        """Lower-cased emails whose rule in the group the bot added."""
        rows = await self.conn.execute(select(t.managed_members.c.email).where(
            t.managed_members.c.account_id == account_id, t.managed_members.c.group_id == group_id))
        return {r.email for r in rows}

    async def groups(self) -> set[tuple[str, str]]:
        """Every (account, group) the bot has added an email to."""
        rows = await self.conn.execute(select(t.managed_members.c.account_id, t.managed_members.c.group_id)
                                       .distinct())
        return {(r.account_id, r.group_id) for r in rows}

    async def add(self, account_id: str, group_id: str, emails: set[str]) -> None:
        """Record that the bot owns these emails' rules in the group (before it PUTs them)."""
        have = await self.emails(account_id, group_id)
        now = self.clock.now()
        new = [dict(account_id=account_id, group_id=group_id, email=email, added_at=now)
               for email in sorted({e.lower() for e in emails} - have)]
        if new:
            await self.conn.execute(insert(t.managed_members), new)  # one multi-row insert

    async def remove(self, account_id: str, group_id: str, emails: set[str]) -> None:
        """Forget the bot's ownership of these emails' rules in the group."""
        if emails:
            await self.conn.execute(delete(t.managed_members).where(
                t.managed_members.c.account_id == account_id, t.managed_members.c.group_id == group_id,
                t.managed_members.c.email.in_(sorted({e.lower() for e in emails}))))
