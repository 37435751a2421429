"""Effects that failed: retried later with backoff and jitter (honouring Retry-After), given up, dropped, or
their key held back."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from bot.domain.effects import Effect
from bot.domain.errors import ExternalError
from bot.services.context import Deps
from bot.services.delivery import notice_given_up
from bot.services.group_sync import alert_revoke_failing
from bot.slack.pacer import NOT_SENT

log = logging.getLogger(__name__)

MAX_BACKOFF = {"cf": 60.0, "default": 300.0}
# A Slack notice still failing this long after its first failure is given up (a Slack incident shorter
# than this loses nothing); Cloudflare work never is.
SLACK_GIVE_UP_AFTER = timedelta(hours=1)


def backoff(attempts: int, retry_after: float | None, cap: float, rng: random.Random) -> float:
    """Seconds to wait before the next attempt: 2^n with ±25% jitter, capped, never less than Retry-After."""
    base = min(cap, 0.25 * (2 ** min(attempts, 16)))
    delay = base * (0.75 + 0.5 * rng.random())
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


class Retries:
    """What the scheduler does with effects that failed or that nothing can carry out."""

    def __init__(self, deps: Deps, rng: random.Random) -> None:
        self.deps = deps
        self.rng = rng

    async def drop(self, rows: list[Any], exc: Exception) -> None:
        """An effect nothing can carry out (unknown kind, unreadable payload, no port wired) is marked dead."""
        log.error("no handler for effect %s (%s): %s; dropping it", rows[0].kind, rows[0].key, exc)
        async with self.deps.store.tx() as tx:
            await tx.outbox.finish_effects([r.id for r in rows], state="dead", error="no handler")

    async def failed_serial(self, key: str, rows: list[Any], effects: list[Effect], exc: ExternalError, *,
                            hold: bool = False) -> bool:
        """Serial effects failed (one, or a digest's lines, together): give them up, or retry them later; True
        when their key now waits (for Retry-After, or with `hold` for their retry)."""
        if exc.errors and exc.errors[0].get("code") == NOT_SENT:
            # The Slack pacer held the call back to keep within Slack's limits: nothing was sent, so it is no
            # failed attempt; the conversation waits for its turn and the worker goes to other conversations.
            await self.postpone(key, exc.retry_after or 1.0)
            return True
        now = self.deps.clock.now()
        failing_for = now - min((r.first_failed_at for r in rows if r.first_failed_at), default=now)
        cloudflare = any(e.CLOUDFLARE for e in effects)
        if not exc.retryable or (not cloudflare and failing_for >= SLACK_GIVE_UP_AFTER):
            log.warning("effects %s %s given up: %s", [r.id for r in rows], rows[0].kind, exc)
            async with self.deps.store.tx() as tx:
                await tx.outbox.finish_effects([r.id for r in rows], state="dead", error=str(exc))
                for effect in effects:
                    await notice_given_up(self.deps, tx, effect, str(exc))
            return False
        at = await self.failed(rows, exc, cap=MAX_BACKOFF["cf"] if cloudflare else MAX_BACKOFF["default"],
                                alert=False)
        if exc.status == 429 and exc.retry_after:
            # The service's limit holds for this key (one Slack conversation, one Cloudflare account): the
            # rest of the key waits too, rather than each row being sent only to be rate-limited in turn.
            # Other conversations' keys are not held back.
            await self.postpone(key, exc.retry_after)
            return True
        if hold:
            await self.postpone(key, (at - now).total_seconds())
        return hold

    async def postpone(self, key: str, seconds: float) -> None:
        """Nothing of this key is tried for `seconds`."""
        async with self.deps.store.tx() as tx:
            await tx.outbox.postpone_key(key, self.deps.clock.now() + timedelta(seconds=seconds))

    async def failed(self, rows: list[Any], exc: ExternalError, *, cap: float, alert: bool) -> datetime:
        """Schedule the next attempt (returns when); alert the admins when a revocation has been failing too
        long."""
        now = self.deps.clock.now()
        attempts = max(r.attempts for r in rows)
        since = min((r.first_failed_at for r in rows if r.first_failed_at), default=now)
        at = now + timedelta(seconds=backoff(attempts, exc.retry_after, cap, self.rng))
        next_alert = min((r.next_alert_at for r in rows if r.next_alert_at), default=None)
        alerts = max(r.alerts for r in rows)
        log.warning("effect %s failed (attempt %d), next try in %.1fs: %s", rows[0].key, attempts + 1,
                    (at - now).total_seconds(), exc)
        new_alert_at = None
        if alert and now - since >= self.deps.revoke_alert_after and (next_alert is None or now >= next_alert):
            p = rows[0].payload
            if await alert_revoke_failing(self.deps, p["account_id"], p["group_id"], str(exc), since,
                                          attempts + 1):
                alerts += 1
                new_alert_at = now + self.deps.revoke_alert_after * (2 ** min(alerts, 6))
        async with self.deps.store.tx() as tx:
            await tx.outbox.retry_effects([r.id for r in rows], at, str(exc), first_failed_at=since,
                                   next_alert_at=new_alert_at, alerts=alerts)
        return at
