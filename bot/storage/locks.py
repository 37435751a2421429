"""Named locks shared by every process on the database: PostgreSQL advisory locks, or in-process on SQLite.

A lock is held on its own connection; if the process dies the connection closes and PostgreSQL lets
the lock go, so a crashed replica never leaves a group or a piece of work locked.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Locker:
    """Try-locks by name: `async with locker.try_hold(name) as got: if got: ...`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pg = engine.dialect.name == "postgresql"
        self._local: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def try_hold(self, name: str) -> AsyncIterator[bool]:
        """Hold the named lock if it is free (yields True), else yield False at once."""
        local = self._local.setdefault(name, asyncio.Lock())
        if local.locked():
            yield False
            return
        async with local:
            if not self._pg:
                yield True
                return
            key = lock_key(name)
            async with self._engine.connect() as conn:
                got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
                await conn.commit()
                if not got:
                    yield False
                    return
                try:
                    yield True
                finally:
                    try:
                        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        await conn.commit()
                    except Exception:  # noqa: BLE001 - the connection closing releases it anyway
                        await conn.invalidate()

    @asynccontextmanager
    async def hold(self, name: str, poll: float = 0.05) -> AsyncIterator[None]:
        """Wait for the named lock and hold it."""
        while True:
            async with self.try_hold(name) as got:
                if got:
                    yield
                    return
            await asyncio.sleep(poll)
