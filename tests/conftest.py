"""Shared fixtures: databases (SQLite always, PostgreSQL when ACCESSBOT_TEST_PG_URL is set), clocks, fakes."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import settings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

# Property tests check what is true, not how fast: on a shared, loaded machine one example can take longer than
# hypothesis' default 200 ms deadline, which would fail a correct test. Speed lives in benchmarks/.
settings.register_profile("accessbot", deadline=None)
settings.load_profile("accessbot")

PG_URL = os.environ.get("ACCESSBOT_TEST_PG_URL")
if os.environ.get("ACCESSBOT_REQUIRE_PG") and not PG_URL:
    raise RuntimeError("ACCESSBOT_REQUIRE_PG is set but ACCESSBOT_TEST_PG_URL is not")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


async def _fresh_pg_database() -> str:
    """Create an empty PostgreSQL database for one test and return its URL."""
    assert PG_URL
    name = "accessbot_t_" + uuid.uuid4().hex[:12]
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return PG_URL.rsplit("/", 1)[0] + "/" + name


async def _drop_pg_database(url: str) -> None:
    assert PG_URL
    name = url.rsplit("/", 1)[1]
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # noqa: ANN001
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url = await _fresh_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(url)


@pytest.fixture
async def sqlite_url(tmp_path) -> str:  # noqa: ANN001
    """A fresh SQLite database URL."""
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
async def pg_database_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database (the replica tests need one; skipped only when no server is configured)."""
    if not PG_URL:
        pytest.skip("ACCESSBOT_TEST_PG_URL is not set (CI sets it)")
    url = await _fresh_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(url)
