"""The scheduler's timers other than expiries: warnings, request timeouts, scheduled starts, reminders,
escalations and break-glass review reminders. Each is a compare-and-set state change, so each happens once
across replicas and restarts (a loser's set changes nothing and owes nothing)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.logging_setup import scope
from bot.services import breakglass as breakglass_cases
from bot.services import grants as grant_cases
from bot.services import reminders as reminder_cases
from bot.services import requests as request_cases
from bot.services import scheduled as scheduled_cases
from bot.services.context import Deps

# Seconds before a scheduled start whose person Slack could not be asked about is tried again.
START_RETRY = 30.0


@dataclass
class DueTimers:
    """What fell due, by kind (IDs of grants or requests)."""

    warnings: list[str]
    timeouts: list[str]
    starts: list[str]
    escalations: list[str]
    reminders: list[str]
    reviews: list[str]

    def count(self) -> int:
        """How many things are due (a scheduled start counts once it is settled, see `Timers.run`)."""
        return len(self.warnings) + len(self.timeouts) + len(self.escalations) + len(self.reminders) \
            + len(self.reviews)


class Timers:
    """Finds and runs the due timers; remembers which scheduled starts wait before they are tried again."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._start_retry: dict[str, float] = {}  # scheduled starts waiting to be tried again (monotonic time)

    @staticmethod
    async def due(tx: Any, now: datetime) -> DueTimers:
        """Everything due at `now`, read in the caller's transaction."""
        return DueTimers(await tx.grants.due_warnings(now), await tx.requests.due_expiries(now),
                         await tx.requests.due_starts(now), await tx.requests.due_escalations(now),
                         await tx.requests.due_reminders(now), await tx.grants.due_reviews(now))

    async def run(self, due: DueTimers) -> int:
        """Run the due timers, each unit of work in its own log scope; returns how many scheduled starts were
        settled."""
        for gid in due.warnings:
            with scope(timer="grant.warning", grant_id=gid):
                await grant_cases.warn_grant(self.deps, gid)
        for rid in due.timeouts:
            with scope(timer="request.timeout", request_id=rid):
                await request_cases.expire_request(self.deps, rid)
        started = await self._start_scheduled(due.starts)
        for rid in due.escalations:
            with scope(timer="request.escalation", request_id=rid):
                await reminder_cases.escalate_request(self.deps, rid)
        for rid in due.reminders:
            with scope(timer="request.reminder", request_id=rid):
                await reminder_cases.remind_request(self.deps, rid)
        for gid in due.reviews:
            with scope(timer="breakglass.review", grant_id=gid):
                await breakglass_cases.remind_review(self.deps, gid)
        return started

    async def _start_scheduled(self, request_ids: list[str]) -> int:
        """Apply the approved-ahead requests whose start has come (each once, whatever replica gets there
        first); one Slack could not be asked about waits START_RETRY seconds; returns how many were settled."""
        done = 0
        mono = asyncio.get_running_loop().time()
        for rid in request_ids:
            if self._start_retry.get(rid, 0) > mono:
                continue
            with scope(timer="request.start", request_id=rid):
                result = await scheduled_cases.start_scheduled(self.deps, rid)
            if result == scheduled_cases.RETRY:
                self._start_retry[rid] = mono + START_RETRY
                continue
            self._start_retry.pop(rid, None)
            done += result != scheduled_cases.NOTHING
        return done
