"""The retention job: the scheduler prunes done effects and old delivery keys, and logs how many went."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from bot.domain.durations import format_duration
from bot.scheduler import Job
from bot.services.context import Deps
from bot.services.retention import prune

log = logging.getLogger(__name__)

# How often the job runs at most: a retention shorter than this is pruned as often as it is long.
PRUNE_EVERY = timedelta(hours=1)
# Rows per batch where one writer holds the whole database (SQLite): small, so a batch holds it only briefly.
ONE_WRITER_BATCH = 200


class GiveWay:
    """The pause between two prune batches on SQLite: as long as the batch took (bounded), so a big prune (the
    first after an upgrade, hundreds of thousands of rows) holds the one writer at most about half the time and
    the interactive transactions (a slash command's) find it free in between. PostgreSQL needs none: a prune's
    row locks are on old rows nobody else writes."""

    def __init__(self, least: float = 0.002, most: float = 0.25) -> None:
        """Pauses of `least` to `most` seconds."""
        self.least, self.most = least, most
        self._since = time.perf_counter()

    async def __call__(self) -> None:
        """Wait as long as the batch just done took, then start timing the next."""
        took = time.perf_counter() - self._since
        await asyncio.sleep(min(self.most, max(self.least, took)))
        self._since = time.perf_counter()


def retention_job(deps: Deps, retention: timedelta, *, one_writer: bool = False) -> Job:
    """Prune at start and then every hour (or every `retention`, if shorter), one replica at a time; with
    `one_writer` (SQLite) in small batches that give way to other transactions."""

    async def run() -> None:
        """One turn: prune, then log the counts (one line, not one audit event per row)."""
        if one_writer:
            pruned = await prune(deps, retention, batch=ONE_WRITER_BATCH, pause=GiveWay())
        else:
            pruned = await prune(deps, retention)
        log.info("pruned %d done effect(s) and %d delivery key(s) older than %s", pruned.effects,
                 pruned.deliveries, format_duration(retention))

    return Job("retention", min(PRUNE_EVERY, retention), run)
