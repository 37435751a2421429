"""The Alembic migrations make exactly the schema that bot/storage/tables.py describes (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.storage.engine import make_engine
from bot.storage.migrate import upgrade
from bot.storage.tables import metadata


def _differences(connection: Any) -> list[Any]:
    """What autogenerate would write to turn the database into `metadata` (empty when they agree)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return [d for d in compare_metadata(context, metadata) if not _is_alembic_own(d)]


def _is_alembic_own(diff: Any) -> bool:
    """Alembic's own version table is not part of the application's metadata."""
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"


async def test_migrated_database_has_no_difference_from_the_table_definitions(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            diffs = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert diffs == [], "migrations and bot/storage/tables.py disagree:\n" + "\n".join(map(repr, diffs))


async def test_the_comparison_sees_a_table_the_migrations_do_not_make(database_url: str) -> None:
    """The check above can fail: a column that only the table definitions have is reported."""
    from sqlalchemy import Column, Integer, MetaData, Table

    engine = make_engine(database_url)
    extra = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(extra)
    Table("not_migrated", extra, Column("id", Integer, primary_key=True))
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            diffs = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), extra))
    finally:
        await engine.dispose()
    assert any(d[0] == "add_table" and d[1].name == "not_migrated" for d in diffs if isinstance(d, tuple))
