"""In-memory repositories of what the bot owes and owns: the outbox (lanes, keys, retries) and managed members."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

from bot.domain.clock import Clock
from bot.domain.effects import Effect, encode
from bot.domain.lanes import KEYS_PER_LANE, LANES, lane_of
from bot.domain.repositories import PRUNE_BATCH
from tests.fake_repos import FakeDb, FakeRepo, Row


class FakeMembers(FakeRepo):
    """The bot's group members in memory."""

    async def emails(self, account_id: str, group_id: str) -> set[str]:
        """Lower-cased emails the bot added to the group."""
        return {e for a, g, e in self.db.members if (a, g) == (account_id, group_id)}

    async def groups(self) -> set[tuple[str, str]]:
        """Every group the bot added an email to."""
        return {(a, g) for a, g, _ in self.db.members}

    async def add(self, account_id: str, group_id: str, emails: set[str]) -> None:
        """Own these emails' rules."""
        for email in {e.lower() for e in emails}:
            self.db.members.setdefault((account_id, group_id, email), self.clock.now())

    async def remove(self, account_id: str, group_id: str, emails: set[str]) -> None:
        """Disown these emails' rules."""
        for email in {e.lower() for e in emails}:
            self.db.members.pop((account_id, group_id, email), None)


class FakeOutbox(FakeRepo):
    """Effects in memory, claimed by key lane by lane like the SQL outbox."""

    def __init__(self, db: FakeDb, clock: Clock) -> None:
        super().__init__(db, clock)
        self.enqueued = False

    async def enqueue(self, kind: str, payload: dict[str, Any], *, key: str | None = None,
                      at: datetime | None = None, lane: int | None = None) -> None:
        """Owe an effect (its payload stored as JSON, as the database stores it)."""
        now = self.clock.now()
        self.db.effects.append(dict(
            id=max((e["id"] for e in self.db.effects), default=0) + 1, kind=kind, key=key or kind,
            payload=json.loads(json.dumps(payload)),
            state="pending", attempts=0, next_at=at or now, created_at=now, alerts=0, done_at=None,
            last_error=None, first_failed_at=None, next_alert_at=None,
            lane=lane_of(kind) if lane is None else lane))
        self.enqueued = True

    async def owe(self, effect: Effect, *, at: datetime | None = None) -> None:
        """Owe a typed effect, encoded as the SQL outbox encodes it."""
        kind, payload, key, lane = encode(effect)
        await self.enqueue(kind, payload, key=key, at=at, lane=lane)

    async def owe_many(self, effects: list[Effect], *, at: datetime | None = None) -> None:
        """Owe typed effects in the order given."""
        for effect in effects:
            await self.owe(effect, at=at)

    def _pending(self) -> list[dict[str, Any]]:
        """The stored pending effects themselves (changed in place by postpone, finish and retry)."""
        return [e for e in self.db.effects if e["state"] == "pending"]

    async def due_keys(self, now: datetime, *, per_lane: int = KEYS_PER_LANE) -> list[tuple[str, int]]:
        """Each lane's keys whose first pending effect is due, by due time then key; a key once, in its most
        urgent lane."""
        keys: list[tuple[str, int]] = []
        seen: set[str] = set()
        for lane in LANES:
            due: dict[str, datetime] = {}
            for e in self._pending():
                if e["lane"] == lane:
                    due[e["key"]] = min(due.get(e["key"], e["next_at"]), e["next_at"])
            ready = sorted((at, k) for k, at in due.items() if at <= now)[:per_lane]
            for _, k in ready:
                if k not in seen:
                    seen.add(k)
                    keys.append((k, lane))
        return keys

    async def due_effects(self, now: datetime, limit: int = 50) -> list[Any]:
        """Pending effects due now, oldest first."""
        return [Row(copy.deepcopy(e)) for e in self._pending() if e["next_at"] <= now][:limit]

    async def effect(self, effect_id: int) -> Any:
        """One effect, or None."""
        return next((Row(copy.deepcopy(e)) for e in self.db.effects if e["id"] == effect_id), None)

    async def pending_effects_for_key(self, key: str) -> list[Any]:
        """Pending effects of a key, oldest first."""
        return [Row(copy.deepcopy(e)) for e in self._pending() if e["key"] == key]

    async def postpone_key(self, key: str, at: datetime) -> None:
        """The key's pending effects wait until `at`."""
        for e in self._pending():
            if e["key"] == key and e["next_at"] < at:
                e["next_at"] = at

    async def finish_effects(self, ids: list[int], state: str = "done", error: str | None = None) -> None:
        """Mark still-pending effects done or dead."""
        for e in self._pending():
            if e["id"] in ids:
                e.update(state=state, done_at=self.clock.now(), last_error=error)

    async def retry_effects(self, ids: list[int], at: datetime, error: str, *, first_failed_at: datetime,
                            next_alert_at: datetime | None = None, alerts: int | None = None) -> None:
        """Push still-pending effects to a later attempt."""
        for e in self._pending():
            if e["id"] in ids:
                e.update(next_at=at, last_error=error[:2000], attempts=e["attempts"] + 1,
                         first_failed_at=first_failed_at)
                if next_alert_at is not None:
                    e["next_alert_at"] = next_alert_at
                if alerts is not None:
                    e["alerts"] = alerts

    async def retrying_by_kind(self) -> dict[str, int]:
        """Pending effects that have failed at least once, per kind."""
        counts: dict[str, int] = {}
        for e in self._pending():
            if e["attempts"] > 0:
                counts[e["kind"]] = counts.get(e["kind"], 0) + 1
        return counts

    async def effect_counts(self) -> dict[str, int]:
        """Effects per state."""
        counts: dict[str, int] = {}
        for e in self.db.effects:
            counts[e["state"]] = counts.get(e["state"], 0) + 1
        return counts

    async def prune_done(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to `limit` effects done before `before`, oldest first (pending and dead ones are kept)."""
        old = {e["id"] for e in sorted(self.db.effects, key=lambda e: e["id"])
               if e["state"] == "done" and e["done_at"] is not None and e["done_at"] < before}
        old = set(sorted(old)[:limit])
        self.db.effects[:] = [e for e in self.db.effects if e["id"] not in old]
        return len(old)
