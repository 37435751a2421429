"""The outbox in SQL: owed side effects, claimed by key lane by lane."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text, update

from bot.domain.effects import Effect, encode
from bot.domain.lanes import KEYS_PER_LANE, LANES, lane_of
from bot.domain.repositories import PRUNE_BATCH
from bot.storage import tables as t
from bot.storage.repos.base import SqlRepo
from bot.storage.repos.counts import counts_of, fold

# A lane's distinct pending keys (one index seek each), with when each key's first effect falls due.
_DUE_KEYS = text("""
WITH RECURSIVE lane_keys(key) AS (
    SELECT MIN(key) FROM effects WHERE state = 'pending' AND lane = :lane
    UNION ALL
    SELECT (SELECT MIN(e.key) FROM effects e WHERE e.state = 'pending' AND e.lane = :lane AND e.key > lane_keys.key)
    FROM lane_keys WHERE lane_keys.key IS NOT NULL
)
SELECT key FROM (
    SELECT key, (SELECT MIN(e.next_at) FROM effects e
                 WHERE e.state = 'pending' AND e.lane = :lane AND e.key = lane_keys.key) AS due
    FROM lane_keys WHERE key IS NOT NULL
) AS keyed
WHERE due <= :now ORDER BY due, key LIMIT :limit
""").bindparams(bindparam("now", type_=t.UTCDateTime()))


class SqlOutbox(SqlRepo):
    """The Outbox repository on the effects table; `enqueued` says whether this transaction owed anything."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.enqueued = False

    async def enqueue(self, kind: str, payload: dict[str, Any], *, key: str | None = None,
                      at: datetime | None = None, lane: int | None = None) -> None:
        """Owe a side effect, committed with the state change that owes it (in `lane`, else its kind's)."""
        now = self.clock.now()
        await self.conn.execute(insert(t.effects).values(
            kind=kind, key=key or kind, payload=payload, state="pending", attempts=0, next_at=at or now,
            created_at=now, alerts=0, lane=lane_of(kind) if lane is None else lane))
        if self.pg and not self.enqueued:
            # Delivered at commit: wakes the other replicas' schedulers (bot.storage.notify).
            await self.conn.execute(text("SELECT pg_notify('accessbot_work', '')"))
        self.enqueued = True

    async def owe(self, effect: Effect, *, at: datetime | None = None) -> None:
        """Owe a typed effect, committed with the state change that owes it (bot.domain.effects encodes it)."""
        kind, payload, key, lane = encode(effect)
        await self.enqueue(kind, payload, key=key, at=at, lane=lane)

    async def owe_many(self, effects: list[Effect], *, at: datetime | None = None) -> None:
        """Owe many typed effects with one multi-row insert, in the order given."""
        if not effects:
            return
        now = self.clock.now()
        rows = []
        for effect in effects:
            kind, payload, key, lane = encode(effect)
            rows.append(dict(kind=kind, key=key or kind, payload=payload, state="pending", attempts=0,
                             next_at=at or now, created_at=now, alerts=0, lane=lane_of(kind) if lane is None else lane))
        await self.conn.execute(insert(t.effects), rows)
        if self.pg and not self.enqueued:
            await self.conn.execute(text("SELECT pg_notify('accessbot_work', '')"))
        self.enqueued = True

    async def due_keys(self, now: datetime, *, per_lane: int = KEYS_PER_LANE) -> list[tuple[str, int]]:
        """Keys with effects due now: Cloudflare removals first, then adds, other Cloudflare work, the rest.

        Each lane is a query of its own with its own limit (keys whose work fell due first come first),
        so however many effects wait in one lane the others' keys are still found. The query walks the
        lane's distinct keys on the (state, lane, key, next_at) index, one seek per key (a recursive
        CTE, the loose index scan both databases lack), so its cost follows the number of keys, not
        the thousands of notices a Slack outage piles up. Each key comes with its most urgent lane."""
        keys: list[tuple[str, int]] = []
        seen: set[str] = set()
        for lane in LANES:
            rows = await self.conn.execute(_DUE_KEYS, {"lane": lane, "now": now, "limit": per_lane})
            for row in rows:
                if row.key not in seen:
                    seen.add(row.key)
                    keys.append((row.key, lane))
        return keys

    async def due_effects(self, now: datetime, limit: int = 50) -> list[Any]:
        """Pending effects whose time has come, oldest first (to see whether anything is due; the
        scheduler claims by `due_keys`, never from this one window)."""
        return list((await self.conn.execute(select(t.effects).where(
            t.effects.c.state == "pending", t.effects.c.next_at <= now,
        ).order_by(t.effects.c.id).limit(limit))).all())

    async def effect(self, effect_id: int) -> Any:
        """One effect row."""
        return (await self.conn.execute(select(t.effects).where(t.effects.c.id == effect_id))).first()

    async def pending_effects_for_key(self, key: str) -> list[Any]:
        """Pending effects sharing a key (all the syncs owed to one group)."""
        return list((await self.conn.execute(select(t.effects).where(
            t.effects.c.key == key, t.effects.c.state == "pending").order_by(t.effects.c.id))).all())

    async def postpone_key(self, key: str, at: datetime) -> None:
        """Nothing of this key is tried before `at` (a rate limit): its pending effects due earlier wait."""
        await self.conn.execute(update(t.effects).where(
            t.effects.c.key == key, t.effects.c.state == "pending", t.effects.c.next_at < at).values(next_at=at))

    async def finish_effects(self, ids: list[int], state: str = "done", error: str | None = None) -> None:
        """Mark effects done (or dead) if still pending."""
        if ids:
            await self.conn.execute(update(t.effects).where(
                t.effects.c.id.in_(ids), t.effects.c.state == "pending",
            ).values(state=state, done_at=self.clock.now(), last_error=error))

    async def retry_effects(self, ids: list[int], at: datetime, error: str, *, first_failed_at: datetime,
                            next_alert_at: datetime | None = None, alerts: int | None = None) -> None:
        """Push pending effects to a later attempt, remembering the error and when failing began."""
        values: dict[str, Any] = {"next_at": at, "last_error": error[:2000], "attempts": t.effects.c.attempts + 1,
                                  "first_failed_at": first_failed_at}
        if next_alert_at is not None:
            values["next_alert_at"] = next_alert_at
        if alerts is not None:
            values["alerts"] = alerts
        await self.conn.execute(update(t.effects).where(
            t.effects.c.id.in_(ids), t.effects.c.state == "pending").values(**values))

    async def retrying_by_kind(self) -> dict[str, int]:
        """Pending effects that have failed at least once, per kind."""
        rows = await self.conn.execute(select(t.effects.c.kind, func.count()).where(
            t.effects.c.state == "pending", t.effects.c.attempts > 0).group_by(t.effects.c.kind))
        return {r[0]: r[1] for r in rows}

    async def effect_counts(self) -> dict[str, int]:
        """How many effects are in each state (kept by triggers in state_counts: no scan of the effects)."""
        return await counts_of(self.conn, "effects", pg=self.pg)

    async def prune_done(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to `limit` effects done before `before` (pending and dead ones are kept). No ORDER BY: no index
        orders by done_at, and the first rows found are as good as any (each batch stops at `limit` matches).
        A batch short of `limit` (the prune's last) folds PostgreSQL's count rows, so they stay few even when
        nobody reads /metrics."""
        old = select(t.effects.c.id).where(t.effects.c.state == "done", t.effects.c.done_at < before).limit(limit)
        ids = [r.id for r in await self.conn.execute(old)]
        if ids:
            await self.conn.execute(delete(t.effects).where(t.effects.c.id.in_(ids)))
        if self.pg and len(ids) < limit:  # the prune's last batch also folds the per-state counts (repos.counts)
            await fold(self.conn)
        return len(ids)
