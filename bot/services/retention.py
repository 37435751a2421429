"""Pruning what is spent: done outbox effects and delivery keys older than the retention, in bounded batches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.domain.repositories import PRUNE_BATCH
from bot.domain.retention import RETENTION_FLOOR
from bot.services.context import Deps


@dataclass(frozen=True)
class Pruned:
    """How many rows one prune deleted."""

    effects: int
    deliveries: int


async def _no_pause() -> None:
    """Go straight on to the next batch."""


async def prune(deps: Deps, retention: timedelta, *, batch: int = PRUNE_BATCH,
                pause: Callable[[], Awaitable[None]] = _no_pause) -> Pruned:
    """Delete effects done, and delivery keys first seen, longer than `retention` ago, `batch` rows per unit of
    work until none is left, awaiting `pause` between two batches (the job lets other transactions in there).
    Pending and dead effects stay (a dead one is evidence of work that never happened), and so does every audit
    event. Delivery keys are kept at least RETENTION_FLOOR whatever `retention` says."""
    now = deps.clock.now()
    effects = await _drain(deps, lambda tx: tx.outbox.prune_done(now - retention, batch), batch, pause)
    keys_before = now - max(retention, RETENTION_FLOOR)
    deliveries = await _drain(deps, lambda tx: tx.deliveries.prune(keys_before, batch), batch, pause)
    return Pruned(effects, deliveries)


async def _drain(deps: Deps, one_batch: Callable[[Any], Awaitable[int]], batch: int,
                 pause: Callable[[], Awaitable[None]]) -> int:
    """Run `one_batch` in its own short unit of work until it deletes fewer than `batch`, with `pause` between
    batches; the total deleted."""
    total = 0
    while True:
        async with deps.store.tx() as tx:
            deleted = await one_batch(tx)
        total += deleted
        if deleted < batch:
            return total
        await pause()
