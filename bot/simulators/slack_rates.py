"""Slack's Web API rate limits in the simulator (off unless a test or benchmark turns them on), and its latency.

The figures are Slack's documented ones, written down here on their own (not taken from the bot's pacer, so a
pacer looser than the documentation is caught): https://api.slack.com/apis/rate-limits — per method per
workspace, Tier 2 20 a minute, Tier 3 50, Tier 4 100 (each tier's floor); chat.postMessage one a second per
channel with short bursts, and a workspace-wide "several hundred a minute" (300 here). Past a limit the
simulator answers as Slack does: HTTP 429, ``{"ok": false, "error": "ratelimited"}`` and ``Retry-After`` in
whole seconds; nothing changes in its state. Buckets start full and allow `burst_seconds` of a method's rate at
once (three posts in one channel), plus `slack` extra calls, the leeway Slack's "bursts are welcome" gives.

    sim.rates.enabled = True        # enforce
    sim.rates.latency = 0.05        # every Web API answer 50 ms late (benchmarks)
    sim.rates.limited               # the 429s it answered: [(method, channel or None), ...]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

PER_MINUTE = {
    "auth.test": 100.0, "chat.postEphemeral": 100.0, "chat.update": 50.0, "conversations.open": 50.0,
    "users.info": 100.0, "users.list": 20.0, "users.lookupByEmail": 50.0, "usergroups.users.list": 20.0,
    "views.open": 100.0, "views.publish": 100.0, "views.update": 100.0, "chat.postMessage": 300.0,
}
CHANNEL_PER_SECOND = 1.0  # chat.postMessage in one channel
CHANNEL_BURST = 3.0


class SlackRates:
    """Token buckets per method (and per channel for chat.postMessage), checked before each Web API call."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Off, no latency."""
        self.enabled = False
        self.latency = 0.0  # seconds every Web API answer waits (0: none)
        self.burst_seconds = 6.0
        self.slack = 1.0  # extra calls a bucket allows beyond its burst
        self.limited: list[tuple[str, str | None]] = []
        self._clock = clock
        self._buckets: dict[tuple[str, str | None], list[float]] = {}  # key -> [tokens, stamp]

    def reset(self) -> None:
        """Full buckets again; the record of 429s kept."""
        self._buckets.clear()

    def _limits(self, method: str, params: dict[str, Any]) -> list[tuple[tuple[str, str | None], float, float]]:
        """(bucket key, calls a second, burst) of every limit this call counts against."""
        if method not in PER_MINUTE:
            return []
        rate = PER_MINUTE[method] / 60
        limits = [((method, None), rate, max(1.0, rate * self.burst_seconds) + self.slack)]
        channel = str(params.get("channel") or "")
        if method == "chat.postMessage" and channel:
            if channel[:1] in ("U", "W"):  # a DM by user ID goes to that user's DM channel
                channel = "D" + channel
            limits.append(((method, channel), CHANNEL_PER_SECOND, CHANNEL_BURST + self.slack))
        return limits

    def check(self, method: str, params: dict[str, Any]) -> float | None:
        """Count one call; None when it is within the limits, else the seconds until it would be (Retry-After)."""
        if not self.enabled:
            return None
        now = self._clock()
        limits = self._limits(method, params)
        waits = []
        for key, rate, burst in limits:
            tokens, stamp = self._buckets.get(key, [burst, now])
            tokens = min(burst, tokens + (now - stamp) * rate)
            self._buckets[key] = [tokens, now]
            if tokens < 1:
                waits.append((1 - tokens) / rate)
        if waits:
            channel = limits[-1][0][1] if len(limits) > 1 else None
            self.limited.append((method, channel))
            return max(waits)
        for key, _, _ in limits:
            self._buckets[key][0] -= 1
        return None
