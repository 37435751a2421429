"""Signing audit checkpoints: now (`accessbot audit checkpoint`) and periodically in serve."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.domain import checkpoint as ckpt
from bot.domain.audit import format_at
from bot.domain.errors import ConfigError
from bot.domain.unit_of_work import UnitOfWorkFactory
from bot.services.checkpoint_files import write_file

log = logging.getLogger(__name__)


class KeyFileError(ConfigError):
    """The signing key file is missing, unreadable, open to others or not a key; one line naming the setting."""


def read_key_text(path: Path, label: str, shown: str, error: type[Exception]) -> str:
    """The first 4 KiB of a key file as text; `error` naming `label` and `shown` (never the key) when it cannot
    be read."""
    try:
        with path.open(encoding="utf-8") as fh:
            return fh.read(4096)
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{label}: cannot read {shown}: "
                    f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None


def load_signing_key(path: str | Path) -> ckpt.SigningKey:
    """The key in ACCESSBOT_AUDIT_KEY_FILE; KeyFileError (never echoing the key) when it cannot be used."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"ACCESSBOT_AUDIT_KEY_FILE: {path} is open to other users "
                               f"(mode {stat.S_IMODE(mode):o}); chmod 600 it")
        text = read_key_text(path, "ACCESSBOT_AUDIT_KEY_FILE", str(path), KeyFileError)
    except FileNotFoundError:
        raise KeyFileError(f"ACCESSBOT_AUDIT_KEY_FILE: no such file: {path} "
                           "(`accessbot audit keygen` makes one)") from None
    except OSError as exc:
        raise KeyFileError(f"ACCESSBOT_AUDIT_KEY_FILE: cannot read {path}: "
                           f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    try:
        return ckpt.SigningKey.parse(text)
    except ckpt.CheckpointError as exc:
        raise KeyFileError(f"ACCESSBOT_AUDIT_KEY_FILE: {path}: {exc}") from None


async def write_checkpoint(store: UnitOfWorkFactory, key: ckpt.SigningKey, directory: str | None = None, *,
                           only_if_grown: bool = False) -> ckpt.Checkpoint | None:
    """Sign the audit chain's current size and head, naming the previous checkpoint; store it and, when
    `directory` is given, copy it there. With `only_if_grown`, nothing is written while the log has not
    grown since the last checkpoint (None)."""
    async with store.tx() as tx:
        await tx.audit.lock()  # no event is appended, and no other checkpoint made, meanwhile
        size, head = await tx.audit.head()
        last = await tx.checkpoints.last()
        if only_if_grown and last is not None and last.tree_size == size and last.head_hash == head:
            return None
        previous = last.note_hash if last is not None else ckpt.NO_PREVIOUS
        cp = ckpt.make(key, size, head, format_at(store.clock.now()), previous)
        await tx.checkpoints.add(cp)
    if directory:
        write_file(directory, cp)
    return cp


async def periodic_checkpoints(store: UnitOfWorkFactory, key: ckpt.SigningKey, directory: str | None,
                               interval: timedelta, stop: asyncio.Event) -> None:
    """Write a checkpoint now, every `interval` and once more when `stop` is set (each only if the log grew)."""
    while True:
        try:
            cp = await write_checkpoint(store, key, directory, only_if_grown=True)
            if cp is not None:
                log.info("audit checkpoint signed at size %d (head %s)", cp.size, cp.head[:12])
        except Exception:  # noqa: BLE001 - logged; the next interval tries again
            log.exception("writing the audit checkpoint failed")
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval.total_seconds())


def start_periodic(settings: Any, store: UnitOfWorkFactory, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """The composition root's one call: the periodic checkpoint task when ACCESSBOT_AUDIT_KEY_FILE is set
    and the interval is not 0; KeyFileError when the key cannot be used (serve refuses to start)."""
    interval = settings.accessbot_audit_checkpoint_interval
    if not settings.accessbot_audit_key_file or not interval or interval.total_seconds() <= 0:
        return None
    key = load_signing_key(settings.accessbot_audit_key_file)
    return asyncio.create_task(
        periodic_checkpoints(store, key, settings.accessbot_audit_checkpoint_dir, interval, stop),
        name="audit-checkpoints")
