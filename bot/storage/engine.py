"""The async engine: SQLite (WAL, busy timeout) by default, PostgreSQL via asyncpg."""

from __future__ import annotations

import time

from sqlalchemy import event, exc
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
    engine = create_async_engine(url, pool_size=10, max_overflow=10)
    ping_when_idle(engine)
    return engine


# A pooled PostgreSQL connection unused this long is pinged before it is handed out again.
PING_IDLE_AFTER = 10.0


def ping_when_idle(engine: AsyncEngine, idle: float = PING_IDLE_AFTER) -> None:
    """Ping a pooled connection before reuse only when it sat idle `idle` seconds (a dead one is replaced).

    SQLAlchemy's `pool_pre_ping` pings on every checkout: one more round trip in every transaction, most of
    them on a connection used a millisecond before. Connections die while idle (a server restart, a proxy's
    idle timeout), so only those are checked; one that dies while busy fails its transaction, which is retried
    as any failed transaction is."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_conn, record) -> None:  # noqa: ANN001
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy) -> None:  # noqa: ANN001
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle:
            return
        try:
            dbapi_conn.ping()
        except Exception as error:  # noqa: BLE001 - any failure means the connection is gone
            raise exc.DisconnectionError(f"pooled connection did not answer a ping: {error}") from error

