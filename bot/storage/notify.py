"""Cross-replica wake-ups on PostgreSQL: a commit that owes work NOTIFYs, every `serve` LISTENs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

CHANNEL = "accessbot_work"
log = logging.getLogger(__name__)


class WorkListener:
    """A dedicated asyncpg connection that calls `on_work` whenever another process commits new work."""

    def __init__(self, database_url: str, on_work: Callable[[], None]) -> None:
        self.database_url = database_url
        self.on_work = on_work
        self._conn: Any = None

    async def start(self) -> bool:
        """Start listening; False (and the scheduler's own timer stays the safety net) when it cannot."""
        import asyncpg

        dsn = make_url(self.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            self._conn = await asyncpg.connect(dsn)
            await self._conn.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot LISTEN for work from other replicas (%s); relying on the scheduler's timer", exc)
            return False
        return True

    def _notified(self, *_args: Any) -> None:
        self.on_work()

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
