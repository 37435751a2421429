"""The audit log read in pages on SQLite and PostgreSQL: the stream, and `audit export` / `audit verify` on it."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from bot.checkpoint_cli import verify
from bot.cli.data import _export
from bot.domain import checkpoint as ckpt
from bot.domain import repositories
from bot.domain.audit import FIELDS, AuditEvent
from bot.domain.clock import ManualClock
from bot.services.checkpoints import write_checkpoint
from bot.storage.engine import make_engine
from bot.storage.migrate import upgrade
from bot.storage.store import Store

EVENTS = 11  # with pages of 3: three full pages and a last one of 2


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A migrated store holding EVENTS audit events with unicode, nulls and nested details."""
    engine = make_engine(database_url)
    await upgrade(engine)
    s = Store(engine, ManualClock())
    for i in range(EVENTS):
        async with s.tx() as tx:
            await tx.audit.append(AuditEvent(
                f"U{i}", "request.created" if i % 2 else "grant.revoked", request_id=f"r-{i}",
                role="prod-db" if i % 3 else None, subject="ä@x.io",
                details={"i": i, "text": "ünïcode, \"quoted\" <!channel>\n", "nested": {"b": [1, None], "a": i}}))
        s.clock.advance(timedelta(minutes=1))
    yield s
    await engine.dispose()


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    """Pages of 3 rows, so a handful of events spans several pages."""
    monkeypatch.setattr(repositories, "AUDIT_PAGE", 3)
    return 3


async def _all_rows(store: Store) -> list[dict[str, Any]]:
    async with store.tx() as tx:
        return await tx.audit.rows()


async def test_the_stream_yields_every_row_once_in_order_across_page_boundaries(store: Store) -> None:
    rows = await _all_rows(store)
    assert [r["seq"] for r in rows] == list(range(1, EVENTS + 1))
    for page in (1, 2, 3, 5, EVENTS - 1, EVENTS, EVENTS + 1, 5000):
        async with store.read() as tx:
            streamed = [r async for r in tx.audit.stream(page=page)]
        assert streamed == rows, page
    async with store.read() as tx:
        assert [r async for r in tx.audit.stream(since_seq=4, page=3)] == rows[4:]
        assert [r async for r in tx.audit.stream(since_at=rows[6]["at"], page=2)] == rows[6:]


async def test_a_writer_commits_while_a_reader_is_between_pages_and_the_stream_goes_on_to_its_row(
        store: Store) -> None:
    seen = []
    async with store.read() as tx:
        async for row in tx.audit.stream(page=3):
            seen.append(row["seq"])
            if row["seq"] == 4:  # between pages: the reader holds no writer off (the old export held SQLite's)
                async with store.tx() as writer:
                    await writer.audit.append(AuditEvent("U9", "request.created"))
    assert seen == list(range(1, EVENTS + 2))


def _old_export(rows: list[dict[str, Any]], fmt: str) -> str:
    """What `audit export` printed before it streamed: every row read into a list, then printed."""
    out = io.StringIO()
    if fmt == "jsonl":
        for row in rows:
            print(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False), file=out)
    else:
        w = csv.writer(out)
        w.writerow(FIELDS)
        for row in rows:
            w.writerow([json.dumps(row[k], sort_keys=True) if k == "details" else row[k] for k in FIELDS])
    return out.getvalue()


async def _run_export(store: Store, fmt: str, since_at: str | None, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert await _export(store, None, argparse.Namespace(format=fmt, since_at=since_at)) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_export_prints_the_same_bytes_as_before_it_streamed(
        store: Store, small_pages: int, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = await _all_rows(store)
    assert await _run_export(store, fmt, None, capsys) == _old_export(rows, fmt)
    since = rows[5]["at"]
    assert await _run_export(store, fmt, since, capsys) == _old_export(rows[5:], fmt)


def _settings(public_key: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(accessbot_audit_public_key=public_key, accessbot_audit_key_file=None)


async def _verify(store: Store, capsys: pytest.CaptureFixture[str], public_key: str | None = None) -> tuple[int, str]:
    capsys.readouterr()
    code = await verify(store, _settings(public_key), argparse.Namespace(checkpoint=[], public_key=None))
    return code, capsys.readouterr().out


async def test_verify_counts_every_page_and_finds_a_changed_row_in_a_later_page(
        store: Store, small_pages: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _verify(store, capsys) == (0, f"audit chain OK: {EVENTS} event(s)\n")
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE audit_log SET details = :d WHERE seq = 10"), {"d": '{"tampered":true}'})
    assert await _verify(store, capsys) == (1, "audit chain BROKEN at seq 10\n")


async def test_verify_checks_a_checkpoint_against_the_hash_in_a_later_page(
        store: Store, small_pages: int, capsys: pytest.CaptureFixture[str]) -> None:
    key = ckpt.SigningKey.generate("accessbot.test/audit")
    cp = await write_checkpoint(store, key)
    assert cp is not None and cp.size == EVENTS
    code, out = await _verify(store, capsys, key.public.text())
    assert code == 0 and out.startswith(f"audit chain OK: {EVENTS} event(s); 1 signed checkpoint(s) agree"), out
    async with store.engine.begin() as conn:  # the last event's hash rewritten: the checkpoint no longer agrees
        await conn.execute(text("UPDATE audit_log SET hash = :h WHERE seq = :s"), {"h": "f" * 64, "s": EVENTS})
    code, out = await _verify(store, capsys, key.public.text())
    assert code == 1 and f"REWRITTEN: event {EVENTS} has chain hash ffffffffffff" in out, out
