"""The async engine: SQLite (WAL, busy timeout) by default, PostgreSQL via asyncpg."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.storage.urls import is_sqlite, normalise_database_url, sqlite_file

__all__ = ["is_sqlite", "make_engine", "normalise_database_url", "sqlite_file"]


def make_engine(url: str) -> AsyncEngine:
    """An AsyncEngine for the URL (any form `normalise_database_url` takes); SQLite gets WAL and a busy timeout."""
    url = normalise_database_url(url)
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)

