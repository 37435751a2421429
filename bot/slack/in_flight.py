"""Work still running after Slack got its ack: tracked (settling and shutdown wait for it) and bounded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class InFlight:
    """The set of tasks started for Slack requests that have not finished yet."""

    def __init__(self, limit: int = 0) -> None:
        """An empty set; with `limit` > 0 it is `full` once that many tasks are running (0: never full)."""
        self._tasks: set[asyncio.Task] = set()
        self.limit = limit

    @property
    def full(self) -> bool:
        """True when no more work should be taken on (the ingress turns requests away). The task asking does
        not count when it is itself tracked (a Socket Mode envelope is handled in tracked work)."""
        try:
            asking = asyncio.current_task()
        except RuntimeError:  # no running loop
            asking = None
        return 0 < self.limit <= len(self._tasks) - (asking in self._tasks)

    def track(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run `work` as a task in the set; it leaves the set when done, and a failure is logged."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    async def drain(self, timeout: float = 20.0) -> None:
        """Wait up to `timeout` seconds for the tasks running now (graceful shutdown)."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def __len__(self) -> int:
        """How many tasks are still running."""
        return len(self._tasks)


def _log_failure(task: asyncio.Task) -> None:
    """Log the exception a tracked task ended with, if any."""
    if not task.cancelled() and task.exception() is not None:
        log.error("slack request handling failed: %s", task.exception(), exc_info=task.exception())
