"""Fixtures for the scenario tests: a running stack per test, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.bootstrap import open_store
from bot.domain.clock import ManualClock, SystemClock
from bot.simulators.stack import Stack, start_stack
from tests.conftest import BACKENDS, PG_URL
from tests.scenario.helpers import AUDITED_POLICY, BASE_POLICY, CAROL, DANA


async def _admin(sql: str) -> None:
    assert PG_URL
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()


async def _migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema (through the composition root, as serve does)."""
    store = await open_store(url, SystemClock())
    await store.engine.dispose()


@pytest.fixture(scope="session")
def _scenario_pg_url() -> Iterator[str | None]:
    """One migrated PostgreSQL database for the whole session (CREATE DATABASE per test is the slow part);
    None when no PostgreSQL server is configured."""
    if not PG_URL:
        yield None
        return
    name = "accessbot_scn_" + uuid.uuid4().hex[:12]
    url = PG_URL.rsplit("/", 1)[0] + "/" + name

    async def _create() -> None:
        await _admin(f'CREATE DATABASE "{name}"')
        await _migrate(url)

    asyncio.run(_create())
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def _scenario_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test starts from a copy."""
    path = tmp_path_factory.mktemp("scenario-template") / "template.db"

    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, _scenario_pg_url: str | None,
                       _scenario_sqlite_template: Path) -> AsyncIterator[str]:
    """An empty database at the newest schema, on each backend. Overrides tests/conftest.py's, which starts
    from nothing: here SQLite starts from a copy of a migrated file and PostgreSQL from the session's migrated
    database, emptied (CREATE DATABASE and the migrations were most of a scenario's set-up time)."""
    if request.param == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            source = _scenario_sqlite_template.with_name(_scenario_sqlite_template.name + suffix)
            if source.exists():
                shutil.copyfile(source, tmp_path / ("test.db" + suffix))
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url = _scenario_pg_url
    assert url
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            tables = [r[0] for r in await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"))]
            if tables:
                await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                                        + " RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
    yield url


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
def clock() -> ManualClock:
    """The bot's clock: time moves only when a test says so."""
    return ManualClock()


@pytest.fixture
async def make_stack(database_url: str, clock: ManualClock) -> AsyncIterator[StackFactory]:
    """Start the whole bot (simulators, real aiohttp app, scheduler) on the test's database; stopped after."""
    stacks: list[Stack] = []

    async def _make(policy: str = BASE_POLICY, **kw: Any) -> Stack:
        kw.setdefault("clock", clock)
        kw.setdefault("max_sleep", 0.2)
        # The periodic drift check GETs every group at start; it is not under test here and would muddle
        # the Cloudflare call counts the tests make.
        kw.setdefault("settings_overrides", {"accessbot_reconcile_interval": timedelta(0)})
        stack = await start_stack(policy, database_url=database_url, **kw)
        stack.slack.add_usergroup("S0ENGINEERS", [CAROL, DANA])
        stacks.append(stack)
        return stack

    yield _make
    errors = []
    for stack in reversed(stacks):
        try:
            await stack.stop()
        except Exception as exc:  # noqa: BLE001 - stop the others, then report
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
async def stack(make_stack: StackFactory) -> Stack:
    """The bot with the base policy (prod-db with approvals, staging auto-approved, secrets restricted)."""
    return await make_stack()


@pytest.fixture
async def audited_stack(make_stack: StackFactory) -> Stack:
    """The base policy with an audit channel (C0AUDIT1): audit summaries and admin alerts are posted there."""
    stack = await make_stack(AUDITED_POLICY)
    assert stack.policy.audit_channel == "C0AUDIT1"
    return stack
