"""Big databases read fast: grants and effects counted per state by triggers (exact under concurrent writers, on
SQLite and PostgreSQL, from any existing database on), and the hot reads use indexes instead of scanning."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, event, func, select, text

from bot.bootstrap import open_store
from bot.config.policy_file import parse_policy
from bot.domain.clock import ManualClock
from bot.domain.model import Grant, GrantState
from bot.services import queries
from bot.services.context import Deps
from bot.storage import tables as t
from bot.storage.engine import make_engine
from bot.storage.migrate import upgrade
from bot.storage.repos.counts import FOLD_AT
from bot.storage.store import Store
from tests.core_harness import POLICY, core_ports

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KINDS = ("slack.dm", "cf.sync", "slack.home")


def _grant(i: int, state: GrantState = GrantState.PENDING) -> Grant:
    return Grant(f"g-T{i:07d}", f"r-T{i:07d}", f"role-{i % 7}", f"U0T{i % 40:05d}", f"Person{i % 40}@Example.com",
                 "acc", f"grp-{i % 7}", timedelta(hours=1), T0 + timedelta(seconds=i), state=state)


async def _scanned(store: Store, table: str) -> dict[str, int]:
    """The table's rows per state, counted the slow way."""
    col = t.metadata.tables[table].c.state
    async with store.read() as tx:
        rows = await tx.conn.execute(select(col, func.count()).group_by(col))
        return {r[0]: r[1] for r in rows}


async def _counted(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    async with store.read() as tx:
        return await tx.grants.counts_by_state(), await tx.outbox.effect_counts()


async def _worker(store: Store, w: int, rounds: int) -> None:
    """Add grants and move them through their states, owe effects and finish or kill them, in small
    transactions (some of them rolled back), while other workers do the same."""
    rng = random.Random(w)
    for r in range(rounds):
        i = w * 1000 + r
        async with store.tx() as tx:
            await tx.grants.add(_grant(i))
            await tx.outbox.enqueue(KINDS[r % 3], {"i": i}, key=f"k{i % 5}")
        async with store.tx() as tx:
            await tx.grants.move(f"g-T{i:07d}", (GrantState.PENDING,), GrantState.ACTIVE)
        if rng.random() < 0.5:
            async with store.tx() as tx:
                await tx.grants.move(f"g-T{i:07d}", (GrantState.ACTIVE,), GrantState.REVOKING)
                await tx.grants.move(f"g-T{i:07d}", (GrantState.REVOKING,), GrantState.REVOKED)
        try:
            async with store.tx() as tx:
                due = await tx.outbox.due_effects(T0 + timedelta(days=1), limit=3)
                await tx.outbox.finish_effects([e.id for e in due], "dead" if rng.random() < 0.2 else "done")
                if rng.random() < 0.2:
                    raise LookupError("rolled back: nothing of this transaction may count")
        except LookupError:
            pass
        if r % 7 == 0:
            await _counted(store)  # readers fold PostgreSQL's delta rows while the writers go on


async def test_counts_per_state_stay_exact_while_writers_change_states_concurrently(database_url: str) -> None:
    store = await open_store(database_url, ManualClock(T0))
    try:
        await asyncio.gather(*(_worker(store, w, 30) for w in range(6)))
        async with store.tx() as tx:
            pruned = await tx.outbox.prune_done(T0 + timedelta(days=2), limit=25)
        grants, effects = await _counted(store)
        assert grants == await _scanned(store, "grants")
        assert effects == await _scanned(store, "effects")
        assert sum(grants.values()) == 180 and pruned == 25
        assert set(grants) <= {s.value for s in GrantState} and grants.get("revoked", 0) > 0
    finally:
        await store.engine.dispose()


async def test_a_bulk_change_of_many_rows_counts_every_row_and_reading_folds_the_delta_rows(database_url: str) -> None:
    store = await open_store(database_url, ManualClock(T0))
    try:
        async with store.tx() as tx:
            for i in range(FOLD_AT + 50):
                await tx.grants.add(_grant(i))
        async with store.tx() as tx:
            await tx.conn.execute(t.grants.update().where(t.grants.c.id < "g-T0000100").values(state="active"))
        assert (await _counted(store))[0] == {"pending": FOLD_AT - 50, "active": 100}
        async with store.read() as tx:
            assert (await tx.grants.counts_by_state()) == {"pending": FOLD_AT - 50, "active": 100}
            rows = (await tx.conn.execute(select(func.count()).select_from(t.state_counts))).scalar()
        assert rows <= 4, "one row per table and state after a fold (SQLite keeps no more)"
    finally:
        await store.engine.dispose()


async def test_the_counts_start_from_the_rows_an_existing_database_already_has(database_url: str) -> None:
    engine = make_engine(database_url)
    await upgrade(engine, "0010")
    store = Store(engine, ManualClock(T0))
    try:
        async with store.tx() as tx:
            for i in range(5):
                await tx.grants.add(_grant(i, GrantState.REVOKED if i < 3 else GrantState.PENDING))
            await tx.outbox.enqueue("slack.dm", {}, key="k")
        await upgrade(engine)
        assert await _counted(store) == ({"revoked": 3, "pending": 2}, {"pending": 1})
    finally:
        await engine.dispose()


# ---- query plans (SQLite) ------------------------------------------------------------------------------------

BIG = ("grants", "requests", "effects", "audit_log")


async def _plans(store: Store, run) -> list[str]:  # noqa: ANN001 - an async callable taking the store
    """EXPLAIN QUERY PLAN of every SELECT that `run` sends, one line per plan step."""
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, PLR0913
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        await run(store)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)
    lines = []
    async with store.engine.connect() as conn:
        for statement, parameters in sent:
            plan = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            lines += [f"{row[3]}    <- {statement.split(chr(10))[0][:120]}" for row in plan]
    return lines


def _full_scans(lines: list[str]) -> list[str]:
    """Plan steps that read a big table row by row (an index scan in the wanted order is fine)."""
    return [ln for ln in lines if any(ln.startswith(f"SCAN {tbl}") and "INDEX" not in ln.split("<-")[0]
                                      for tbl in BIG)]


async def test_the_hot_reads_search_indexes_and_never_scan_a_big_table(sqlite_url: str) -> None:
    store = await open_store(sqlite_url, ManualClock(T0))
    try:
        async with store.tx() as tx:
            for i in range(60):
                await tx.grants.add(_grant(i, GrantState.REVOKED))

        groups, directory = core_ports()
        deps = Deps(store=store, clock=store.clock, policy=parse_policy(POLICY), directory=directory, groups=groups)
        not_active = tuple(s for s in GrantState if s is not GrantState.ACTIVE)

        page_plans: list[str] = []
        for filters, step in (({}, "SCAN grants USING INDEX ix_grants_created"),
                              ({"states": not_active}, "SCAN grants USING INDEX ix_grants_created"),
                              ({"email": "person3@example.com"}, "SEARCH grants USING INDEX ix_grants_email_created"),
                              ({"states": (GrantState.ACTIVE,)}, "SEARCH grants USING INDEX ix_grants_state_created"),
                              ({"after": (T0, "g-T0000001")}, "SEARCH grants USING INDEX ix_grants_created")):
            async def page(store: Store, filters: dict = filters) -> None:
                await queries.grants_page(deps, **{"email": None, "role": None, "states": None, "after": None,
                                                   **filters}, limit=10)
            plan = await _plans(store, page)
            assert plan and plan[0].startswith(step), (filters, plan)
            page_plans += plan

        async def home_and_metrics(store: Store) -> None:
            await queries.my_access(deps, "U0T00003", waiting=True)
            await queries.status(deps)

        lines = page_plans + await _plans(store, home_and_metrics)
        assert len(lines) >= 10, lines
        assert _full_scans(lines) == [], "\n".join(lines)
        assert not [ln for ln in page_plans if "TEMP B-TREE" in ln], "a page is read in index order, never sorted:\n" \
            + "\n".join(page_plans)
        async with store.engine.connect() as conn:  # the check can fail: an unindexed filter is seen
            bad = await conn.exec_driver_sql("EXPLAIN QUERY PLAN SELECT * FROM grants WHERE failure = 'x'")
            assert _full_scans([f"{row[3]}    <- x" for row in bad])
    finally:
        await store.engine.dispose()


async def test_the_read_indexes_exist_after_the_migrations(sqlite_url: str) -> None:
    store = await open_store(sqlite_url, ManualClock(T0))
    try:
        async with store.engine.connect() as conn:
            names = {r[0] for r in await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
            triggers = {r[0] for r in await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))}
    finally:
        await store.engine.dispose()
    assert {"ix_grants_requester_state", "ix_grants_created", "ix_grants_state_created", "ix_grants_email_created",
            "ix_requests_requester_state"} <= names
    assert triggers == {f"count_{tbl}_{op}" for tbl in ("grants", "effects") for op in ("insert", "delete", "update")}


async def test_the_hourly_prune_folds_the_count_rows_even_when_nobody_reads_the_counts(database_url: str) -> None:
    store = await open_store(database_url, ManualClock(T0))
    try:
        for i in range(FOLD_AT + 10):
            async with store.tx() as tx:
                await tx.grants.add(_grant(i))
        async with store.tx() as tx:
            assert await tx.outbox.prune_done(T0, limit=100) == 0
        async with store.read() as tx:
            rows = (await tx.conn.execute(select(func.count()).select_from(t.state_counts))).scalar()
        assert rows == 1 and await _counted(store) == ({"pending": FOLD_AT + 10}, {})
    finally:
        await store.engine.dispose()


async def test_one_statement_changing_ten_thousand_grants_counts_them_in_time_linear_in_the_rows(
        pg_database_url: str) -> None:
    # Migration 0011's trigger joined the statement's old and new rows, which PostgreSQL ran as a nested loop
    # (the plan it kept from one-row statements): 20 s for one statement of 10,000 rows on the 2-core CI machine;
    # counted by state instead it takes about 0.3 s. The bound
    # is far from both, so a loaded machine cannot trip it and the square cannot pass it.
    store = await open_store(pg_database_url, ManualClock(T0))
    try:
        async with store.tx() as tx:
            for i in range(100):
                await tx.grants.add(_grant(i))
            cols = [c.name for c in t.grants.c]
            suffixed = ("id", "requester")  # one live grant per requester and role
            copies = select(*[(t.grants.c[c] + "-" + func.cast(text("n"), t.grants.c[c].type)).label(c)
                              if c in suffixed else t.grants.c[c] for c in cols]).select_from(
                t.grants.join(text("generate_series(1, 99) AS n"), text("true")))
            await tx.conn.execute(t.grants.insert().from_select(cols, copies))
        async with store.tx() as tx:
            # single-row updates first, as a bot makes all day: PL/pgSQL keeps the trigger's plan for the session
            # once it has run a few times, and the plan made for one row is the one the big statement then gets
            for i in range(10):
                await tx.grants.move(f"g-T{i:07d}", (GrantState.PENDING,), GrantState.ACTIVE)
                await tx.grants.move(f"g-T{i:07d}", (GrantState.ACTIVE,), GrantState.PENDING)
            started = asyncio.get_running_loop().time()
            await tx.conn.execute(t.grants.update().values(
                state=case((t.grants.c.id.like("%-1_"), "active"), else_=t.grants.c.state),
                expires_at=T0 + timedelta(days=1)))
            took = asyncio.get_running_loop().time() - started
        assert await _scanned(store, "grants") == {"pending": 9000, "active": 1000}
        assert (await _counted(store))[0] == {"pending": 9000, "active": 1000}
        assert took < 5.0, f"one bulk update took {took:.1f} s: the count trigger is not linear in the rows"
    finally:
        await store.engine.dispose()
