"""The demo's steps: a narrator that prints each with its time and counts what failed, and a bounded wait."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.polling import eventually


class DemoFailed(Exception):
    """A step did not happen as it should."""


class Narrator:
    """Prints each step with the time since the start, and counts what went wrong."""

    def __init__(self, quiet: bool = False) -> None:
        self.t0 = time.monotonic()
        self.quiet = quiet
        self.failures: list[str] = []

    def say(self, text: str) -> None:
        """One line of the story."""
        if not self.quiet:
            print(f"[{time.monotonic() - self.t0:6.2f}s] {text}", flush=True)

    def check(self, ok: bool, what: str) -> None:
        """A step that must have happened."""
        if ok:
            self.say(f"  ✓ {what}")
        else:
            self.failures.append(what)
            self.say(f"  ✗ {what}")


async def wait_for(pred: Callable[[], Awaitable[Any] | Any], timeout: float, what: str) -> Any:
    """Poll until `pred()` is truthy; raise DemoFailed after `timeout` seconds."""
    return await eventually(pred, timeout, what, step=0.05, error=DemoFailed)
