"""The drift report for people (`accessbot reconcile`) and the periodic drift check as a scheduler job."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from bot.domain.membership import list_of
from bot.scheduler import Job
from bot.services.context import Deps
from bot.services.reconcile import GroupDrift, reconcile
from bot.storage.locks import Locker

log = logging.getLogger(__name__)


def render(report: list[GroupDrift]) -> str:
    """The report for people."""
    lines = []
    for d in report:
        list_id = list_of(d.group_id)
        where = f"Zero Trust list {list_id}" if list_id else f"group {d.group_id}"
        head = f"{where} (account {d.account_id}; roles: {', '.join(d.roles) or 'none in the policy'})"
        lines.append(head)
        if d.error:
            lines.append(f"  ERROR: {d.error}")
            continue
        lines.append(f"  missing at Cloudflare (active grant, email absent): {', '.join(d.missing) or 'none'}")
        lines.append(f"  still present after the grant ended:              {', '.join(d.stale) or 'none'}")
        lines.append(f"  standing members (rules the bot did not add):     {len(d.standing)}")
        for rule in d.standing:
            lines.append(f"    {json.dumps(rule, sort_keys=True)}")
        if d.fixed:
            lines.append("  FIXED: the bot's own rules now match the database")
    return "\n".join(lines)


def reconcile_job(deps: Deps, locker: Locker, interval: timedelta) -> Job:
    """The periodic drift check as a scheduler job: compare at start and then every `interval` (the scheduler
    runs it one replica at a time), logging the groups that drifted."""

    async def check() -> None:
        """One turn: compare every group, log the ones that drifted."""
        report = await reconcile(deps, locker)
        drifted = [d.group_id for d in report if d.drifted]
        if drifted:
            log.warning("drift detected on groups %s", drifted)

    return Job("reconcile", interval, check)
