"""Named locks shared by every process on the database: PostgreSQL advisory locks, or file locks on SQLite.

On PostgreSQL a lock is held on its own connection; if the process dies the connection closes and
PostgreSQL lets the lock go, so a crashed replica never leaves a group or a piece of work locked.
On SQLite a lock is a one-byte POSIX record lock in a file next to the database (`…-locks`), at an
offset taken from the name; the kernel lets it go when the process dies. So `accessbot reconcile
--fix` and a running `serve` never write one Cloudflare group at the same time on SQLite either.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite locks are then in-process only
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class _LockFile:
    """Record locks in one file, shared by every Locker of this process on the same SQLite database.

    POSIX record locks belong to the process, not to a descriptor, and closing any descriptor of the
    file drops them all: so the file is opened once while this process holds any of its locks, closed
    when it holds none, and which names this process holds is tracked here."""

    _open: dict[str, _LockFile] = {}

    def __init__(self, path: str | None) -> None:
        self.path = path if fcntl is not None else None
        self.fd: int | None = None
        self.held: set[str] = set()

    @classmethod
    def for_database(cls, database: str | None) -> _LockFile:
        """The lock file of a SQLite database file (in-process only for an in-memory database)."""
        path = f"{os.path.abspath(database)}-locks" if database and database != ":memory:" else None
        key = path or ":memory:"
        if key not in cls._open:
            cls._open[key] = cls(path)
        return cls._open[key]

    @contextmanager
    def try_hold(self, name: str) -> Iterator[bool]:
        """Hold `name` if neither this process nor another holds it (True), else False at once."""
        if name in self.held:
            yield False
            return
        offset = lock_key(name) & ((1 << 62) - 1)
        if self.path is not None:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError:  # another process holds it
                self._close_if_unused()
                yield False
                return
        self.held.add(name)
        try:
            yield True
        finally:
            self.held.discard(name)
            if self.fd is not None:
                fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, offset)
                self._close_if_unused()

    def _close_if_unused(self) -> None:
        if not self.held and self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Locker:
    """Try-locks by name: `async with locker.try_hold(name) as got: if got: ...`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pg = engine.dialect.name == "postgresql"
        self._local: dict[str, asyncio.Lock] = {}
        self._file = None if self._pg else _LockFile.for_database(engine.url.database)

    @asynccontextmanager
    async def try_hold(self, name: str) -> AsyncIterator[bool]:
        """Hold the named lock if it is free (yields True), else yield False at once."""
        local = self._local.setdefault(name, asyncio.Lock())
        if local.locked():
            yield False
            return
        async with local:
            if self._file is not None:
                with self._file.try_hold(name) as got:
                    yield got
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
