"""PostgreSQL's pool: a connection that sat idle is pinged before reuse and replaced when dead; a busy one is not
pinged (no round trip added to every transaction)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.storage.engine import make_engine, ping_when_idle


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(url: str, pid: int) -> None:
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    await admin.dispose()


def _one_connection_pool(url: str, idle: float) -> AsyncEngine:
    """A pool of one connection, pinged before reuse after `idle` seconds."""
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle=idle)
    return engine


async def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(pg_database_url: str) -> None:
    engine = _one_connection_pool(pg_database_url, 0.0)
    try:
        first = await _backend_pid(engine)
        await _terminate(pg_database_url, first)
        assert await _backend_pid(engine) != first  # no error: the ping found it dead, a new one was made
    finally:
        await engine.dispose()


async def test_without_the_idle_ping_a_killed_connection_fails_its_transaction(pg_database_url: str) -> None:
    engine = _one_connection_pool(pg_database_url, 3600.0)
    try:
        first = await _backend_pid(engine)
        await _terminate(pg_database_url, first)
        with pytest.raises(DBAPIError):
            await _backend_pid(engine)
        assert await _backend_pid(engine) != first  # the pool threw the dead one away
    finally:
        await engine.dispose()


async def test_a_connection_reused_at_once_is_not_pinged(pg_database_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    pings: list[object] = []
    real = AsyncAdapt_asyncpg_connection._async_ping

    async def counted(self: AsyncAdapt_asyncpg_connection) -> None:
        pings.append(self)
        await real(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "_async_ping", counted)
    engine = make_engine(pg_database_url)
    try:
        for _ in range(5):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT 2"))
        assert pings == []
    finally:
        await engine.dispose()
