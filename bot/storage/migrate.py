"""Apply and inspect Alembic migrations from code (`serve` at start, `accessbot db`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic Config pointing at the packaged bot/migrations/ and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = database_url
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest)."""
    cfg = alembic_config(str(engine.url))

    def _go(connection) -> None:  # noqa: ANN001
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Two replicas starting at once must not both create the tables.
            from sqlalchemy import text

            await conn.execute(text("SELECT pg_advisory_xact_lock(727100001)"))
        await conn.run_sync(_go)


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when no migration ran."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head() -> str:
    """The newest revision in migrations/."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head() or ""


def upgrade_sync(engine: AsyncEngine) -> None:
    """Blocking wrapper around `upgrade` for the CLI."""
    asyncio.run(upgrade(engine))
