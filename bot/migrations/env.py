"""Alembic environment: runs migrations over the async engine named by DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage.engine import normalise_database_url
from bot.storage.tables import metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    """The database URL (set by `accessbot db`, else DATABASE_URL, else the embedded default), in the
    async-driver form `serve` uses (`postgres://…` and `sqlite:///…` are accepted as in bot.config.settings)."""
    return normalise_database_url(
        config.attributes.get("database_url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///accessbot.db")
    )


def _run(connection: Connection) -> None:
    """Run the migrations on one synchronous connection."""
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    """Open an async engine and run the migrations through it."""
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())
