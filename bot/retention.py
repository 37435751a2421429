"""The retention job: the scheduler prunes done effects and old delivery keys, and logs how many went."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.domain.durations import format_duration
from bot.scheduler import Job
from bot.services.context import Deps
from bot.services.retention import prune

log = logging.getLogger(__name__)

# How often the job runs at most: a retention shorter than this is pruned as often as it is long.
PRUNE_EVERY = timedelta(hours=1)


def retention_job(deps: Deps, retention: timedelta) -> Job:
    """Prune at start and then every hour (or every `retention`, if shorter), one replica at a time."""

    async def run() -> None:
        """One turn: prune, then log the counts (one line, not one audit event per row)."""
        pruned = await prune(deps, retention)
        log.info("pruned %d done effect(s) and %d delivery key(s) older than %s", pruned.effects,
                 pruned.deliveries, format_duration(retention))

    return Job("retention", min(PRUNE_EVERY, retention), run)
