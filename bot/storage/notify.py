"""Cross-replica signals on PostgreSQL: a commit that owes work NOTIFYs `accessbot_work`, and `accessbot policy
reload` NOTIFYs `accessbot_policy`; every `serve` LISTENs to both."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url

from bot.storage.engine import normalise_database_url

CHANNEL = "accessbot_work"
POLICY_CHANNEL = "accessbot_policy"
log = logging.getLogger(__name__)


# Query keys SQLAlchemy's asyncpg dialect takes for itself; asyncpg.connect would refuse them.
_DIALECT_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback")


def connect_kwargs(database_url: str) -> dict[str, Any]:
    """asyncpg.connect's arguments for DATABASE_URL, exactly as the engine's dialect passes them
    (host, port, user, password, database, and query options such as `ssl`, translated from `sslmode`)."""
    url = make_url(normalise_database_url(database_url))
    _, kwargs = asyncpg_dialect().create_connect_args(url)
    return {k: v for k, v in kwargs.items() if k not in _DIALECT_ONLY}


class WorkListener:
    """A dedicated asyncpg connection that calls `on_work` whenever another process commits new work."""

    def __init__(self, database_url: str, on_work: Callable[[], None],
                 on_policy: Callable[[], None] | None = None) -> None:
        """`on_policy` is called when `accessbot policy reload` asks every replica to re-read its policy."""
        self.database_url = database_url
        self.on_work = on_work
        self.on_policy = on_policy
        self._conn: Any = None

    async def start(self) -> bool:
        """Start listening; False (and the scheduler's own timer stays the safety net) when it cannot."""
        import asyncpg

        try:
            self._conn = await asyncpg.connect(**connect_kwargs(self.database_url))
            await self._conn.add_listener(CHANNEL, self._notified)
            if self.on_policy is not None:
                await self._conn.add_listener(POLICY_CHANNEL, self._policy_notified)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot LISTEN for work from other replicas (%s); relying on the scheduler's timer", exc)
            return False
        return True

    def _notified(self, *_args: Any) -> None:
        self.on_work()

    def _policy_notified(self, *_args: Any) -> None:
        if self.on_policy is not None:
            self.on_policy()

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


async def notify_policy_reload(database_url: str) -> None:
    """Ask every `serve` on this PostgreSQL database to re-read its policy file (NOTIFY accessbot_policy)."""
    import asyncpg

    conn = await asyncpg.connect(**connect_kwargs(database_url))
    try:
        await conn.execute(f"NOTIFY {POLICY_CHANNEL}")
    finally:
        await conn.close()
