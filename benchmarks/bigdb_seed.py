"""A big database for the read-path benchmark: years of grant history, a few thousand live grants, pending
requests, done effects and a million sealed audit events, written in bulk straight into the tables.

The audit events are sealed once (about 40 µs each: the hash chain) into a cache file
(`$ACCESSBOT_BENCH_CACHE`, default `~/.cache/accessbot-bench`) and copied from it on later runs: SQLite
attaches the cache and copies in one statement, PostgreSQL takes it by COPY.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from benchmarks.audit_log import events
from benchmarks.harness import GROUP_IDS
from bot.simulators.stack import ACCOUNT
from bot.storage import tables as t
from bot.storage.store import Store

_BATCH = 5000
_HISTORY = ("revoked", "revoked", "revoked", "failed")  # mostly ended normally, some refused by Cloudflare
_AUDIT_COLUMNS = ("seq", "at", "actor", "action", "request_id", "grant_id", "role", "subject", "details",
                  "prev_hash", "hash")


@dataclass(frozen=True)
class Size:
    """How big the database is: grants, people, roles, live grants, pending requests, effects, audit events."""

    grants: int = 100_000
    users: int = 1_000
    roles: int = 50
    active: int = 3_000
    pending: int = 200
    effects_per_grant: int = 3
    audit: int = 1_000_000

    @classmethod
    def quick(cls) -> Size:
        """A tenth of the full size (CI's `--quick`)."""
        return cls(grants=10_000, users=200, active=600, pending=50, audit=100_000)


def user_of(i: int) -> str:
    """The Slack user ID of the benchmark's i-th person."""
    return f"U0H{i:06d}"


def email_of(i: int) -> str:
    """The email of the benchmark's i-th person."""
    return f"big{i:05d}@example.com"


def _grant(i: int, size: Size, now: datetime) -> dict[str, Any]:
    """The i-th grant: person i % users, one role per thousand; the last `active` ones are live."""
    user, role = i % size.users, (i // size.users) % size.roles
    created = now - timedelta(days=365) + timedelta(seconds=i * 365 * 86400 // size.grants)
    live = i >= size.grants - size.active
    expires = now + timedelta(days=1) if live else created + timedelta(hours=4)
    return {"id": f"g-H{i:07d}", "request_id": f"r-H{i:07d}", "role": f"bench-{role}", "requester": user_of(user),
            "email": email_of(user), "account_id": ACCOUNT, "group_id": GROUP_IDS[role], "duration_s": 14400,
            "created_at": created, "state": "active" if live else _HISTORY[i % len(_HISTORY)],
            "granted_at": created, "expires_at": expires, "warn_at": None, "warned": False,
            "revoked_at": None if live else expires, "revoke_reason": None if live else "expired",
            "revoke_actor": None, "revoke_sessions": False, "failure": None}


def _request(i: int, size: Size, now: datetime, grant: dict[str, Any] | None) -> dict[str, Any]:
    """The request behind grant i, or (no grant) the i-th pending request, on one of the first roles (which the
    live grants, the last ones made, never have)."""
    if grant is not None:
        return {"id": grant["request_id"], "role": grant["role"], "requester": grant["requester"],
                "email": grant["email"], "duration_s": 14400, "reason": f"ticket OPS-{i}",
                "created_at": grant["created_at"], "expires_at": grant["created_at"] + timedelta(days=1),
                "state": "approved", "kind": "new", "grant_id": None, "decided_by": "U0APPROVER",
                "decided_at": grant["created_at"], "decision_note": ""}
    user = i % size.users
    return {"id": f"r-P{i:07d}", "role": f"bench-{(i // size.users) % size.roles}", "requester": user_of(user),
            "email": email_of(user), "duration_s": 3600, "reason": "please", "created_at": now - timedelta(minutes=i),
            "expires_at": now + timedelta(days=2), "state": "pending", "kind": "new", "grant_id": None,
            "decided_by": None, "decided_at": None, "decision_note": ""}


def _effects(grant: dict[str, Any], per_grant: int) -> Iterator[dict[str, Any]]:
    """The done Slack and Cloudflare effects a grant left behind (kept until the retention period prunes them)."""
    kinds = ("cf.sync", "slack.dm", "slack.update_approval", "slack.home")
    for k in range(per_grant):
        at = grant["created_at"] + timedelta(seconds=k)
        yield {"kind": kinds[k % len(kinds)], "key": grant["group_id"] if k == 0 else grant["requester"],
               "payload": {"grant_id": grant["id"]}, "state": "done", "attempts": 0, "next_at": at,
               "created_at": at, "done_at": at, "alerts": 0, "lane": 1 if k == 0 else 3}


async def _bulk(store: Store, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    """Insert rows in batches; how many."""
    batch: list[dict[str, Any]] = []
    n = 0
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            async with store.engine.begin() as conn:
                await conn.execute(insert(table), batch)
            n, batch = n + len(batch), []
    if batch:
        async with store.engine.begin() as conn:
            await conn.execute(insert(table), batch)
    return n + len(batch)


async def seed_state(store: Store, size: Size) -> None:
    """Grants, their requests and effects, the pending requests and the App Home viewers."""
    now = datetime.now(UTC)
    grants = [_grant(i, size, now) for i in range(size.grants)]
    await _bulk(store, t.grants, iter(grants))
    await _bulk(store, t.requests, (_request(i, size, now, g) for i, g in enumerate(grants)))
    await _bulk(store, t.requests, (_request(i, size, now, None) for i in range(size.pending)))
    await _bulk(store, t.effects, (e for g in grants for e in _effects(g, size.effects_per_grant)))
    await _bulk(store, t.home_viewers, ({"user_id": user_of(u), "opened_at": now} for u in range(size.users)))


def audit_cache(n: int) -> Path:
    """A SQLite file holding n sealed audit events (made on first use; about 40 s per million)."""
    folder = Path(os.environ.get("ACCESSBOT_BENCH_CACHE", Path.home() / ".cache" / "accessbot-bench"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"audit-{n}.db"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    db = sqlite3.connect(partial)
    db.execute(f"CREATE TABLE audit_log ({', '.join(_AUDIT_COLUMNS)})")
    marks = ", ".join("?" * len(_AUDIT_COLUMNS))
    batch: list[tuple[Any, ...]] = []
    for row in events(n):
        batch.append(tuple(row[c] for c in _AUDIT_COLUMNS))
        if len(batch) == 50_000:
            db.executemany(f"INSERT INTO audit_log VALUES ({marks})", batch)
            batch = []
    db.executemany(f"INSERT INTO audit_log VALUES ({marks})", batch)
    db.commit()
    db.close()
    partial.rename(path)
    return path


async def seed_audit(store: Store, n: int) -> float:
    """Copy n sealed audit events from the cache into the database; seconds the copy took."""
    cache = audit_cache(n)
    started = time.monotonic()
    if store.engine.dialect.name == "sqlite":  # ATTACH cannot run inside a transaction
        async with store.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("ATTACH DATABASE :path AS cache"), {"path": str(cache)})
            await auto.execute(text(f"INSERT INTO audit_log ({', '.join(_AUDIT_COLUMNS)}) "
                                    f"SELECT {', '.join(_AUDIT_COLUMNS)} FROM cache.audit_log"))
            await auto.execute(text("DETACH DATABASE cache"))
        return time.monotonic() - started
    source = sqlite3.connect(cache)
    try:
        async with store.engine.begin() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            cursor = source.execute(f"SELECT {', '.join(_AUDIT_COLUMNS)} FROM audit_log ORDER BY seq")
            while chunk := cursor.fetchmany(100_000):
                await raw.copy_records_to_table("audit_log", records=chunk, columns=list(_AUDIT_COLUMNS))
    finally:
        source.close()
    return time.monotonic() - started
