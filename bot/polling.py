"""Waiting for something to become true: the one polling loop of the demo and the tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(predicate: Callable[[], Any | Awaitable[Any]], timeout: float = 5.0, what: str = "", *,
                     step: float = 0.02, error: type[Exception] = AssertionError) -> Any:
    """Call `predicate()` (sync or async) every `step` seconds until it returns something truthy, and return that.

    It is called at least once, and once more when `timeout` seconds of real time have passed; still falsy
    then, `error` is raised naming `what` (or the predicate)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(step)
