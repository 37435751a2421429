"""The scheduler: sleep until the next thing falls due (or until woken), claim it, run it.

One loop per process. Timers (grant expiries, expiry warnings, request timeouts, reminders, escalations,
break-glass review reminders) are compare-and-swap state changes, so with several processes each happens
once. Effects from the outbox are grouped by key (one Cloudflare group, the Slack conversation, ...) and
each key is worked by one process at a time under a named lock, in the order owed (a backlog of audit-channel
lines goes out as digests, `bot.domain.audit_digest`); a failed effect is retried with exponential backoff and
jitter, honouring Retry-After (`bot.effect_retries`).
Due keys are found lane by lane (Cloudflare removals, adds, other Cloudflare work, then Slack and the
rest; see `Tx.due_keys`) and each class of lanes has its own worker slots, so no backlog in one lane
delays another: a Slack outage never holds back a revocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.audit_digest import AuditDigest, Batch, batches
from bot.domain.budget import BudgetShort, CallKind, kind_of_lane, spending
from bot.domain.effects import SyncGroup, UndecodableEffect
from bot.domain.errors import ExternalError
from bot.domain.lanes import LANE_OTHER
from bot.domain.membership import list_of
from bot.domain.ports import Messenger
from bot.effect_retries import MAX_BACKOFF, Retries
from bot.logging_setup import bind, context, rebind, scope
from bot.services import grants as grant_cases
from bot.services.context import Deps
from bot.services.dispatch import Dispatcher, NoHandler, effect_of
from bot.storage.locks import Locker
from bot.timers import Timers

log = logging.getLogger(__name__)

BUSY_WAIT = 0.25  # seconds before looking again at work that another worker holds
# At most this many keys are worked at once in each class of lanes, each class on its own. A worker holds
# a database connection for its lock (PostgreSQL) and needs another for its transactions: with no bound,
# many groups or conversations at once would take the whole pool and every worker would wait on it;
# with one shared bound, Slack conversations could take the slots revocations need. Slack conversations get
# 6 slots: a Slack worker mostly waits on Slack (and on the pacer, bot/slack/pacer.py), holding its lock
# connection throughout but a transaction's only briefly, so 4 + 6 lock connections leave 10 of the 20 the
# PostgreSQL pool allows to transactions and Slack's requests. Six is enough to reach Slack's
# workspace-wide chat.postMessage rate (5 a second) when each conversation may take only one post a second;
# one conversation's effects still go one by one, in order.
MAX_WORKERS = {"cf": 4, "other": 6}


@dataclass
class Job:
    """Work the scheduler runs every `interval` by its clock (the first time at its first tick), in the
    background, one process at a time: under the lock named `name`, a replica holding it skips its turn."""

    name: str
    interval: timedelta
    run: Callable[[], Awaitable[None]]
    next_at: datetime | None = None


def lane_class(lane: int) -> str:
    """The worker class of an outbox lane: Cloudflare work, or the rest."""
    return "other" if lane >= LANE_OTHER else "cf"


class Scheduler:
    """Runs timers and outbox effects as they fall due."""

    def __init__(self, deps: Deps, locker: Locker, messenger: Messenger | None = None, *,
                 max_sleep: float = 5.0, seed: int | None = None, jobs: list[Job] | None = None) -> None:
        self.deps = deps
        self.jobs = list(jobs or [])
        self._running_jobs: set[str] = set()
        self.locker = locker
        self.dispatcher = Dispatcher(deps, messenger)
        self.max_sleep = max_sleep
        self._wake = asyncio.Event()
        self._stopping = False
        self._running_keys: set[str] = set()
        self._running_per_class: dict[str, int] = dict.fromkeys(MAX_WORKERS, 0)
        self._blocked: dict[str, float] = {}
        self._released: set[str] = set()  # keys whose worker finished since due keys were last read
        self._tasks: set[asyncio.Task] = set()
        self._rng = random.Random(seed)
        self.retries = Retries(deps, self._rng)
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep  # waiting for a Cloudflare slot
        self.started = False
        self.last_tick: datetime | None = None
        self.timers = Timers(deps)
        deps.store.after_commit.append(lambda tx: self.wake() if tx.enqueued else None)

    def wake(self) -> None:
        """New work was committed: look again now."""
        self._wake.set()

    async def run(self) -> None:
        """The loop; returns after `stop()`."""
        self.started = True
        while not self._stopping:
            self._wake.clear()  # before the tick: a wake-up during it is not lost
            try:
                started = await self.tick()
                delay = await self._sleep_for()
                if delay <= 0 and not started:
                    # Everything due is being worked already (here, or by a replica holding its lock).
                    delay = BUSY_WAIT
            except Exception:  # noqa: BLE001 - the loop must survive a database hiccup
                log.exception("scheduler tick failed")
                delay = 1.0
            if delay > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
        await self.drain()

    async def stop(self) -> None:
        """Stop taking new work; in-flight effects finish (see `drain`)."""
        self._stopping = True
        self._wake.set()

    async def drain(self, timeout: float = 20.0) -> None:
        """Wait for in-flight effect work to finish."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def _sleep_for(self) -> float:
        """Seconds until the next due item (capped so replicas notice each other's work)."""
        async with self.deps.store.tx() as tx:
            nxt = await tx.next_due()
        job_times = [j.next_at for j in self.jobs if j.next_at is not None and j.name not in self._running_jobs]
        nxt = min([t for t in (nxt, *job_times) if t is not None], default=None)
        if nxt is None:
            return self.max_sleep
        return max(0.0, min(self.max_sleep, (nxt - self.deps.clock.now()).total_seconds()))

    async def tick(self) -> int:
        """Do whatever is due now: timers inline, effects in background tasks per key; returns how many."""
        now = self.deps.clock.now()
        self.last_tick = now
        async with self.deps.store.tx() as tx:
            expiring = await tx.grants.due_expiries(now, limit=1)
            due = await self.timers.due(tx, now)
        started = due.count()
        # each unit of work in its own log scope: the ids it binds do not stick to the loop's later lines
        if expiring:
            # Every due expiry lands in revoking (in bulk batches) before any group worker starts, so each
            # group's worker reads a whole sweep at once and writes it with one GET + PUT.
            with scope(timer="grant.expiry"):
                started += await grant_cases.expire_due(self.deps)
        # Revocations (and every other due effect) start before warnings, timeouts and the other timers.
        started += await self._start_due_keys(self.deps.clock.now())
        started += self._start_due_jobs(self.deps.clock.now())
        started += await self.timers.run(due)
        return started

    async def _start_due_keys(self, now: datetime) -> int:
        """Start a worker for each key with due effects, most urgent lane first; returns how many.

        A key whose worker finished while the due keys were being read is left to the next tick (its finish
        wakes the loop): the list may still show the work that worker just did, and starting the key again
        from it would let the key book its next write ahead of keys that have waited longer."""
        self._released.clear()
        async with self.deps.store.tx() as tx:
            keys = await tx.outbox.due_keys(now)
        started = 0
        mono = asyncio.get_running_loop().time()
        for key, lane in keys:
            cls = lane_class(lane)
            if key in self._running_keys or self._stopping or self._blocked.get(key, 0) > mono \
                    or key in self._released or self._running_per_class[cls] >= MAX_WORKERS[cls]:
                continue  # a finished worker wakes the loop, which then starts the next key
            self._running_keys.add(key)
            self._running_per_class[cls] += 1
            task = asyncio.create_task(self._work_key(key, cls))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    def _start_due_jobs(self, now: datetime) -> int:
        """Start each periodic job whose time has come (and is not still running); returns how many."""
        started = 0
        for job in self.jobs:
            if self._stopping or job.name in self._running_jobs or (job.next_at is not None and job.next_at > now):
                continue
            job.next_at = now + job.interval
            self._running_jobs.add(job.name)
            task = asyncio.create_task(self._run_job(job), name=job.name)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def _run_job(self, job: Job) -> None:
        """Run one turn of a periodic job under its cross-process lock; a failure is logged, the job runs again
        at its next turn."""
        try:
            async with self.locker.try_hold(job.name) as got:
                if got:
                    await job.run()
        except Exception:  # noqa: BLE001 - a failed turn must not stop the scheduler; the next turn comes
            log.exception("job %s failed", job.name)
        finally:
            self._running_jobs.discard(job.name)
            self.wake()

    async def run_until_idle(self, rounds: int = 50) -> None:
        """Tests: tick and wait for effects until nothing due is left (time does not move)."""
        for _ in range(rounds):
            await self.tick()
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                continue
            async with self.deps.store.tx() as tx:
                if not await tx.outbox.due_effects(self.deps.clock.now(), limit=1):
                    return

    async def _work_key(self, key: str, cls: str) -> None:
        """Work one key's due effects under its cross-process lock (one of `cls`'s worker slots)."""
        try:
            async with self.locker.try_hold(f"effects:{key}") as got:
                if not got:  # a replica works this key now; look again a little later
                    self._blocked[key] = asyncio.get_running_loop().time() + BUSY_WAIT
                    return
                self._blocked.pop(key, None)
                if key.startswith("cf:"):
                    await self._work_group(key)
                else:
                    await self._work_serial(key)
        except Exception:  # noqa: BLE001 - logged; the effects stay pending and are tried again
            log.exception("effect worker for %s failed", key)
        finally:
            self._running_keys.discard(key)
            self._running_per_class[cls] -= 1
            self._released.add(key)
            self.wake()  # whatever fell due while this key was busy is looked at now

    async def _due_rows(self, key: str) -> list[Any]:
        """This key's pending effects that are due now."""
        async with self.deps.store.tx() as tx:
            rows = await tx.outbox.pending_effects_for_key(key)
        now = self.deps.clock.now()
        return [r for r in rows if r.next_at <= now]

    async def _work_group(self, key: str) -> None:
        """One GET + one PUT (one PATCH for a list) settles every pending sync of this group.

        The write's calls are booked from the token's budget first, as a removal when any due sync removes
        access; while the write waits for its slot, syncs that fall due on the group ride on it (the rows are
        read again after the wait). A budget too short for an add postpones the group's work, uncounted."""
        rows = await self._due_rows(key)
        if not rows:
            return
        bind(effect=rows[0].kind)  # this key's task only; sync_group binds the grants it settles
        try:
            effect = effect_of(rows[0])
        except UndecodableEffect as exc:
            await self.retries.drop(rows, exc)
            return
        kind = min(kind_of_lane(r.lane) for r in rows)
        cost = 1 if isinstance(effect, SyncGroup) and list_of(effect.group_id) else 2
        booked = await self._book(key, cost, kind)
        if booked is None:
            return
        if booked > 0:
            await self.sleep(booked)
            rows = await self._due_rows(key) or rows
        ids = [r.id for r in rows]
        try:
            with spending(kind, prepaid=cost if self.deps.budget is not None else 0):
                await self.dispatcher.carry_out(effect, ids, had_alerts=any(r.alerts for r in rows))
        except ExternalError as exc:
            await self.retries.failed(rows, exc, cap=MAX_BACKOFF["cf"], alert=True)

    async def _book(self, key: str, cost: int, kind: CallKind) -> float | None:
        """Book a write's `cost` calls: seconds until its slot, or None when the budget has none for `kind` now
        (the key's due work is postponed until the budget says, without counting as a failed attempt)."""
        if self.deps.budget is None:
            return 0.0
        try:
            return await self.deps.budget.take(cost, kind)
        except BudgetShort as exc:
            at = self.deps.clock.now() + timedelta(seconds=exc.retry_after or BUSY_WAIT)
            log.info("Cloudflare budget short: %s waits %.1f s (%s)", key, exc.retry_after or BUSY_WAIT, kind.name)
            async with self.deps.store.tx() as tx:
                await tx.outbox.postpone_key(key, at)
            return None

    async def _work_serial(self, key: str) -> None:
        """Run this key's due effects in the order they were owed: one by one, but a backlog of audit lines as
        digests (`bot.domain.audit_digest`). After a pass that posted digests the key is read again: lines owed
        meanwhile (a sweep's later groups) go on at the channel's pace instead of queueing behind every other
        conversation's older notices for a worker slot."""
        base = context()
        backlog = True
        while backlog and not self._stopping:
            async with self.deps.store.tx() as tx:
                rows = await tx.outbox.pending_effects_for_key(key)
            now = self.deps.clock.now()
            due = [r for r in rows if r.next_at <= now]
            plan = batches([r.kind for r in due])
            backlog = any(b.digest for b in plan)
            for batch in plan:
                if self._stopping:
                    return
                picked = [due[i] for i in batch.indexes]
                held = await (self._run_digest(key, picked, batch, base) if batch.digest
                              else self._run_one(key, picked[0], base))
                if held:
                    return

    async def _run_one(self, key: str, row: Any, base: dict[str, Any]) -> bool:
        """Carry out one serial effect; True when its key now waits (see `_failed_serial`)."""
        rebind(base, effect=row.kind, grant_id=row.payload.get("grant_id"),  # each effect's own log context
               request_id=row.payload.get("request_id"))
        try:
            effect = effect_of(row)
            with spending(kind_of_lane(row.lane)):  # a session revocation spends as a removal
                await self.dispatcher.carry_out(effect, [row.id])
        except (UndecodableEffect, NoHandler) as exc:
            await self.retries.drop([row], exc)
        except ExternalError as exc:
            return await self.retries.failed_serial(key, [row], [effect], exc)
        return False

    async def _run_digest(self, key: str, rows: list[Any], batch: Batch, base: dict[str, Any]) -> bool:
        """Post a backlog's audit lines as one digest; True when its key now waits (a failed digest holds the
        lines after it back until it is retried, so the channel keeps seq order)."""
        rebind(base, effect=rows[0].kind, digest=f"{batch.part}/{batch.parts}", lines=len(rows))
        good, effects = [], []
        for row in rows:
            try:
                effects.append(effect_of(row))
                good.append(row)
            except UndecodableEffect as exc:  # one unreadable row is dropped, not the digest
                await self.retries.drop([row], exc)
        if not good:
            return False
        digest = AuditDigest(tuple(e.seq for e in effects), batch.part, batch.parts, batch.backlog)
        try:
            await self.dispatcher.carry_out_digest(digest, [r.id for r in good])
        except NoHandler as exc:
            await self.retries.drop(good, exc)
        except ExternalError as exc:
            return await self.retries.failed_serial(key, good, effects, exc, hold=True)
        return False

