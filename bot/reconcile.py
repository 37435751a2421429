"""`accessbot reconcile [--fix]` and the periodic drift check that `serve` runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from typing import Any

from bot.services.context import Deps
from bot.services.reconcile import GroupDrift, reconcile
from bot.storage.locks import Locker

log = logging.getLogger(__name__)


def render(report: list[GroupDrift]) -> str:
    """The report for people."""
    lines = []
    for d in report:
        head = f"group {d.group_id} (account {d.account_id}; roles: {', '.join(d.roles) or 'none in the policy'})"
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


async def run_reconcile_cli(settings: Any, store: Any, *, fix: bool) -> int:
    """The CLI command: print the report; exit 1 when drift remains or a group could not be read."""
    from bot.cloudflare.client import CloudflareClient
    from bot.config.policy_file import load_policy

    policy = load_policy(settings.accessbot_policy, settings.cloudflare_account_id)
    token = settings.cloudflare_api_token.get_secret_value() if settings.cloudflare_api_token else ""
    client = CloudflareClient(settings.cloudflare_api_url, token, timeout=settings.accessbot_cf_timeout)
    deps = Deps(store=store, clock=store.clock, policy=policy, directory=None, groups=client)  # type: ignore[arg-type]
    try:
        report = await reconcile(deps, Locker(store.engine), fix=fix, actor="cli")
    finally:
        await client.aclose()
    print(render(report))
    remaining = [d for d in report if d.error or (d.drifted and not d.fixed)]
    return 1 if remaining else 0


async def periodic_reconcile(deps: Deps, locker: Locker, interval: timedelta, stop: asyncio.Event) -> None:
    """Compare at start and then every `interval` until `stop` is set (one replica at a time)."""
    while not stop.is_set():
        try:
            async with locker.try_hold("reconcile") as got:
                if got:
                    report = await reconcile(deps, locker)
                    drifted = [d.group_id for d in report if d.drifted]
                    if drifted:
                        log.warning("drift detected on groups %s", drifted)
        except Exception:  # noqa: BLE001 - a failed check must not stop the bot; it runs again later
            log.exception("drift check failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval.total_seconds())
