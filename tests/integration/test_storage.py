"""Storage on SQLite and PostgreSQL: migrations, compare-and-swap, the audit chain, deliveries, locks."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, inspect, text
from sqlalchemy.engine.default import CacheStats

from bot.domain.audit import AuditEvent, first_broken
from bot.domain.clock import ManualClock
from bot.domain.model import AccessRequest, RequestState
from bot.polling import eventually
from bot.slack.deliveries import DeliveryLedger
from bot.storage.engine import make_engine
from bot.storage.locks import Locker
from bot.storage.migrate import current, head, upgrade
from bot.storage.schema_version import HEAD, at_head
from bot.storage.store import Store


async def _store(url: str) -> Store:
    engine = make_engine(url)
    await upgrade(engine)
    return Store(engine, ManualClock())


async def test_migrations_make_every_table_and_report_head(database_url: str) -> None:
    engine = make_engine(database_url)
    assert await current(engine) is None
    assert not await at_head(engine), "an empty database is not at the newest revision"
    await upgrade(engine)
    await upgrade(engine)  # a second run changes nothing
    assert await current(engine) == head() == HEAD != ""
    assert await at_head(engine)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0011'"))
    assert not await at_head(engine), "an older revision is not the newest"
    await upgrade(engine)  # Alembic takes it from there (0012 runs again on the tables as they are)
    assert await at_head(engine)
    async with engine.connect() as conn:
        names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert {"requests", "votes", "grants", "effects", "audit_log", "managed_members", "approval_messages",
            "home_viewers", "deliveries", "audit_checkpoints"} <= names
    await engine.dispose()


async def test_a_request_moves_state_only_from_the_expected_state(database_url: str) -> None:
    store = await _store(database_url)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with store.tx() as tx:
        await tx.requests.add(AccessRequest("r-AAAA", "prod-db", "U1", "a@x.io", timedelta(hours=1), "why",
                                            now, now + timedelta(days=1)))
    async with store.tx() as tx:
        assert await tx.requests.move("r-AAAA", RequestState.PENDING, RequestState.APPROVED)
        assert not await tx.requests.move("r-AAAA", RequestState.PENDING, RequestState.DENIED)
        got = await tx.requests.get("r-AAAA")
    assert got.state is RequestState.APPROVED and got.expires_at == now + timedelta(days=1)
    await store.engine.dispose()


async def test_the_audit_chain_links_every_event_and_finds_a_changed_row(database_url: str) -> None:
    store = await _store(database_url)
    for i in range(5):
        async with store.tx() as tx:
            await tx.audit.append(AuditEvent("U1", "request.created", details={"i": i, "text": "ünïcode <!channel>"}))
    async with store.tx() as tx:
        rows = await tx.audit.rows()
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5] and first_broken(rows) is None
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE audit_log SET details = :d WHERE seq = 3"), {"d": json.dumps({"i": 99})})
    async with store.tx() as tx:
        assert first_broken(await tx.audit.rows()) == 3
    await store.engine.dispose()


async def test_concurrent_audit_appends_keep_one_unbroken_chain(database_url: str) -> None:
    store = await _store(database_url)

    async def append(i: int) -> None:
        async with store.tx() as tx:
            await tx.audit.append(AuditEvent("system", "request.vote", details={"i": i}))

    await asyncio.gather(*(append(i) for i in range(20)))
    async with store.tx() as tx:
        rows = await tx.audit.rows()
    assert len(rows) == 20 and first_broken(rows) is None
    await store.engine.dispose()


async def test_a_delivery_key_is_first_only_once(database_url: str) -> None:
    store = await _store(database_url)
    async with store.tx() as tx:
        assert await tx.deliveries.first("event:Ev1")
    async with store.tx() as tx:
        assert not await tx.deliveries.first("event:Ev1")
        assert await tx.deliveries.first("event:Ev2")
    await store.engine.dispose()


async def test_a_named_lock_is_held_by_one_holder_at_a_time(database_url: str) -> None:
    store = await _store(database_url)
    engine2 = make_engine(database_url)
    a, b = Locker(store.engine), Locker(engine2)
    async with a.try_hold("group-1") as got_a:
        assert got_a
        async with a.try_hold("group-1") as again:
            assert not again
        async with b.try_hold("group-1") as got_b:
            assert not got_b
        async with b.try_hold("group-2") as other:
            assert other, "other names are free"
    async with b.try_hold("group-1") as got_b:
        assert got_b
    await engine2.dispose()
    await store.engine.dispose()


_HOLDER = """
import asyncio, sys
from bot.storage.engine import make_engine
from bot.storage.locks import Locker

async def main():
    async with Locker(make_engine(sys.argv[1])).try_hold("group-1") as got:
        print("held" if got else "busy", flush=True)
        sys.stdin.readline()

asyncio.run(main())
"""


async def test_a_named_lock_held_by_another_process_is_busy_until_that_process_dies(database_url: str) -> None:
    store = await _store(database_url)
    locker = Locker(store.engine)
    holder = await asyncio.create_subprocess_exec(sys.executable, "-c", _HOLDER, database_url,
                                                  stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"held"
        async with locker.try_hold("group-1") as got:
            assert not got, "another process holds it"
        async with locker.try_hold("group-2") as got:
            assert got
        holder.kill()  # no unlock: the lock goes with the process
        await holder.wait()

        async def free() -> bool:
            async with locker.try_hold("group-1") as got:
                return got

        # PostgreSQL frees a dead client's locks when its backend notices the closed connection: soon, not at once
        await eventually(free, 10, "the lock of the killed process to be released")
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await store.engine.dispose()


async def test_next_due_is_the_earliest_pending_thing(database_url: str) -> None:
    store = await _store(database_url)
    now = store.clock.now()
    async with store.tx() as tx:
        assert await tx.next_due() is None
        await tx.outbox.enqueue("notify.user", {"x": 1}, at=now + timedelta(seconds=30))
        await tx.requests.add(AccessRequest("r-BBBB", "r", "U1", "a@x.io", timedelta(hours=1), "", now,
                                            now + timedelta(seconds=10)))
    async with store.tx() as tx:
        assert await tx.next_due() == now + timedelta(seconds=10)
    await store.engine.dispose()


async def test_a_commit_that_owes_work_wakes_listeners_in_other_processes(pg_database_url: str) -> None:
    from bot.storage.notify import WorkListener

    store = await _store(pg_database_url)
    woke = asyncio.Event()
    listener = WorkListener(pg_database_url, woke.set)
    assert await listener.start()
    async with store.tx() as tx:
        await tx.outbox.enqueue("notify.user", {"x": 1})
    await asyncio.wait_for(woke.wait(), timeout=5)
    await listener.stop()
    await store.engine.dispose()


async def test_the_work_listener_connects_as_the_engine_does_from_the_url_people_write(pg_database_url: str) -> None:
    """`postgres://`, libpq's sslmode, and an option only SQLAlchemy's dialect takes (pgbouncer users set it)."""
    from bot.storage.notify import WorkListener

    plain = pg_database_url.replace("postgresql+asyncpg://", "postgres://", 1) + \
        "?sslmode=disable&prepared_statement_cache_size=0"
    store = await _store(plain)
    woke = asyncio.Event()
    listener = WorkListener(plain, woke.set)
    assert await listener.start()
    async with store.tx() as tx:
        await tx.outbox.enqueue("notify.user", {"x": 1})
    await asyncio.wait_for(woke.wait(), timeout=5)
    await listener.stop()
    await store.engine.dispose()


def test_alembic_run_on_its_own_takes_a_plain_sqlite_url(tmp_path) -> None:  # noqa: ANN001
    from alembic import command

    from bot.storage.migrate import alembic_config, head

    path = tmp_path / "plain.db"
    command.upgrade(alembic_config(f"sqlite:///{path}"), "head")
    import sqlite3

    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (head(),)


async def test_delivery_keys_written_in_one_batch_report_only_the_new_ones(database_url: str) -> None:
    store = await _store(database_url)
    async with store.tx() as tx:
        assert await tx.deliveries.first_of(["event:Ev1", "signed:a"]) == {"event:Ev1", "signed:a"}
    long = "signed:" + "x" * 300
    async with store.tx() as tx:
        assert await tx.deliveries.first_of(["signed:a", "event:Ev2", "event:Ev2", long]) == {"event:Ev2", long}
        assert await tx.deliveries.first_of([]) == set()
    async with store.tx() as tx:
        assert not await tx.deliveries.first(long[:200] + "tail cut off"), "keys are cut to 200 like first()'s"
    await store.engine.dispose()


async def test_two_replicas_sharing_a_database_act_on_a_retried_event_once(database_url: str) -> None:
    store = await _store(database_url)

    async def record(keys: list[str]) -> set[str]:
        async with store.single() as tx:  # as serve records them
            return await tx.deliveries.first_of(keys)

    one, two = DeliveryLedger(record), DeliveryLedger(record)  # each replica's memory; one table
    assert one.note("event:Ev9") and two.note("event:Ev9"), "neither replica saw it before"
    assert sorted(await asyncio.gather(one.first("event:Ev9"), two.first("event:Ev9"))) == [False, True]
    await store.engine.dispose()


async def test_a_single_statement_unit_commits_its_statement_and_runs_the_commit_hooks(database_url: str) -> None:
    store = await _store(database_url)
    hooked: list[object] = []
    store.after_commit.append(hooked.append)
    async with store.single() as tx:
        assert await tx.deliveries.first_of(["signed:one", "signed:two"]) == {"signed:one", "signed:two"}
        if store.pg:  # autocommit: another connection sees the keys before the block ends
            async with store.engine.connect() as other:
                keys = await other.execute(text("SELECT key FROM deliveries"))
                assert sorted(k for (k,) in keys) == ["signed:one", "signed:two"]
    assert len(hooked) == 1
    async with store.tx() as tx:
        assert await tx.deliveries.first_of(["signed:one", "signed:three"]) == {"signed:three"}
    await store.engine.dispose()


async def test_a_request_s_statements_are_compiled_once_and_then_taken_from_the_cache(database_url: str) -> None:
    store = await _store(database_url)
    ran: list[tuple[str, object]] = []

    def note(_conn, _cursor, statement, _params, context, _many) -> None:  # noqa: ANN001
        ran.append((statement.split()[0], context.cache_hit))

    batches = [["signed:a1"], ["signed:a2", "signed:a3"], ["signed:b1"], ["signed:b2", "signed:b3", "signed:b4"]]
    for i, keys in enumerate(batches):
        if i == 2:  # warmed up: one key, and a batch of them
            event.listen(store.engine.sync_engine, "after_cursor_execute", note)
        async with store.single() as tx:
            await tx.deliveries.first_of(keys)
        async with store.tx() as tx:
            await tx.requests.get("r-NOSUCHREQ")
            await tx.audit.append(AuditEvent("U0ALICE", "approval.refused", request_id="r-NOSUCHREQ"))
    compiled = [(verb, hit) for verb, hit in ran if verb in ("SELECT", "INSERT", "UPDATE", "DELETE")]
    assert len(compiled) >= 6 and all(hit == CacheStats.CACHE_HIT for _, hit in compiled), compiled
    await store.engine.dispose()


def test_serve_opens_a_database_already_at_the_newest_revision_without_loading_alembic(tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite+aiosqlite:///{tmp_path / 'at-head.db'}"
    script = (f"import asyncio, sys\nfrom bot.bootstrap import open_store\nfrom bot.domain.clock import SystemClock\n"
              f"store = asyncio.run(open_store({url!r}, SystemClock()))\nprint('alembic' in sys.modules)\n")
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
            for _ in range(2)]
    assert runs == ["True", "False"], "the first start migrates with Alembic; the second finds nothing to do"
