"""Delivery keys (a signed request's signature, an event's ID): checked in memory before the ack, recorded in
the database after it, in batches.

A key seen before in this process is refused at once, with no database round trip in front of the ack. The
database (the `deliveries` table, shared by every replica) is the authority: each new key is also written there
once the request is acknowledged, many keys in one transaction, and the request's work runs only if the write
says the key is new. So a repeat that reaches another replica is acknowledged but never acted on twice, and no
request waits on the database (or its SQLite writer lock) for its ack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# Records a batch of keys; the ones seen for the first time (the `deliveries` table).
Record = Callable[[list[str]], Awaitable[set[str]]]
# True the first time one key is seen.
FirstTime = Callable[[str], Awaitable[bool]]

# Slack's signature check accepts a timestamp up to 5 minutes either side of our clock, so one signed request
# stays valid for 10 minutes of ours: a key is remembered at least that long.
REMEMBER_SECONDS = 660.0
# Keys kept in memory at most (the oldest go first; the database still refuses them).
MAX_KEYS = 200_000
# Keys written in one transaction at most.
MAX_BATCH = 500


def one_by_one(first_time: FirstTime) -> Record:
    """A `Record` made of a one-key check (tests, and callers without a batch write)."""

    async def record(keys: list[str]) -> set[str]:
        return {key for key in keys if await first_time(key)}

    return record


class DeliveryLedger:
    """Which delivery keys were seen: in this process (memory) and by every replica (the database)."""

    def __init__(self, record: Record, *, remember: float = REMEMBER_SECONDS, max_keys: int = MAX_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`record` writes a batch of keys to the database; memory holds up to `max_keys` for `remember` s."""
        self.record = record
        self.remember = remember
        self.max_keys = max_keys
        self.clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._waiting: dict[str, list[asyncio.Future[bool]]] = {}
        self._writer: asyncio.Task | None = None

    def note(self, key: str) -> bool:
        """True the first time this process sees `key` (it is remembered from now on); False for a repeat."""
        now = self.clock()
        self._forget(now)
        if key in self._seen:
            return False
        self._seen[key] = now
        if len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
        return True

    def _forget(self, now: float) -> None:
        """Drop the keys older than `remember` (they are in insertion order, so the oldest come first)."""
        horizon = now - self.remember
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if at >= horizon:
                return
            del self._seen[key]

    async def first(self, key: str) -> bool:
        """True when the database had not seen `key` (it is recorded now), written together with the keys that
        arrive meanwhile. An error writing them is raised to every caller of the batch."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        """Write the waiting keys, a batch at a time, until none wait."""
        while self._waiting:
            keys = list(self._waiting)[:MAX_BATCH]
            futures = {key: self._waiting.pop(key) for key in keys}
            try:
                new = await self.record(keys)
            except Exception as exc:  # noqa: BLE001 - every waiter gets the error; the writer goes on
                for waiting in futures.values():
                    for future in waiting:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for key, waiting in futures.items():
                for i, future in enumerate(waiting):
                    if not future.done():
                        future.set_result(key in new and i == 0)

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the keys still being written (shutdown)."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer], timeout=timeout)
