"""Whether a database is already at the newest migration, answered without loading Alembic (serve's start-up)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

# The newest revision in bot/migrations/versions; a test holds it to Alembic's own answer.
HEAD = "0012"


async def at_head(engine: AsyncEngine) -> bool:
    """True when the database's `alembic_version` names HEAD and nothing else. No such table, another revision,
    or a database that cannot say: False, and Alembic decides what to do (it loads in about 0.15 s, a tenth of
    serve's start-up, so a database already at HEAD starts without it)."""
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except SQLAlchemyError:
        return False
    return [row[0] for row in rows] == [HEAD]
