"""Where signed audit checkpoints are kept: the audit_checkpoints table, and a directory outside the database."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.audit import GENESIS_HASH
from bot.domain.checkpoint import Checkpoint
from bot.storage import tables as t
from bot.storage.store import _AUDIT_LOCK, Tx


async def lock_audit(tx: Tx) -> None:
    """Hold the audit chain's lock for the rest of the transaction (PostgreSQL; SQLite has one writer)."""
    if tx.pg:
        await tx.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK})


async def audit_head(tx: Tx) -> tuple[int, str]:
    """The number of audit events and the chain hash of the last one (the genesis hash when there is none)."""
    last = (await tx.conn.execute(
        select(t.audit_log.c.seq, t.audit_log.c.hash).order_by(t.audit_log.c.seq.desc()).limit(1))).first()
    return (int(last.seq), last.hash) if last else (0, GENESIS_HASH)


async def last_checkpoint(tx: Tx) -> Any:
    """The newest stored checkpoint row, or None."""
    return (await tx.conn.execute(
        select(t.audit_checkpoints).order_by(t.audit_checkpoints.c.id.desc()).limit(1))).first()


async def add_checkpoint(tx: Tx, cp: Checkpoint) -> None:
    """Store a checkpoint just signed."""
    await tx.conn.execute(insert(t.audit_checkpoints).values(
        tree_size=cp.size, head_hash=cp.head, at=cp.at, prev_hash=cp.previous, note_hash=cp.hash, note=cp.note))


async def stored_notes(conn: AsyncConnection) -> list[str]:
    """Every stored checkpoint's signed note, in the order they were written (a read: no transaction needed)."""
    rows = await conn.execute(select(t.audit_checkpoints.c.note).order_by(t.audit_checkpoints.c.id))
    return [r.note for r in rows]


def write_file(directory: str | Path, cp: Checkpoint) -> Path:
    """Write the checkpoint to `directory` as `<size>-<time>.checkpoint` and as `latest.checkpoint` (each
    atomically, so a reader never sees half of one); returns the first path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = re.sub(r"[^0-9TZ]", "", cp.at)
    path = folder / f"{cp.size:012d}-{stamp}.checkpoint"
    for target in (path, folder / "latest.checkpoint"):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".checkpoint-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(cp.note)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path
