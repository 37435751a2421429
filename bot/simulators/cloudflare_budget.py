"""Cloudflare's API rate limits as the simulator enforces them: per token, and per client IP.

Cloudflare documents (developers.cloudflare.com/fundamentals/api/reference/limits): "Client API per user/account
token: 1200/5 minutes", "Client API per IP: 200/second", and that past the first "all API calls for the next
five minutes will be blocked, receiving a HTTP 429 response", whose `retry-after` is "the number of seconds,
rounded up, until more capacity is available". Modelled here as a sliding window per key (the last `seconds`
seconds' requests are counted) and, for the token, a block of `block` seconds once a request goes over: every
request in the block is refused and is not counted. The per-IP window has no block: a request is refused until
the oldest counted one leaves the window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """At most `requests` in any `seconds`; past it, refused for `block` seconds (None: until there is room)."""

    requests: int
    seconds: float
    block: float | None = None


# Cloudflare's numbers.
TOKEN_BUDGET = Budget(1200, 300.0, block=300.0)
IP_BUDGET = Budget(200, 1.0)


@dataclass(frozen=True)
class Refusal:
    """A request the budget refused: which budget ("token" or "ip"), when (the simulator's clock) and the
    Retry-After it was told."""

    scope: str
    at: float
    retry_after: int


class Window:
    """A sliding window of requests per key (a token, an IP) under one budget."""

    def __init__(self, budget: Budget) -> None:
        """Nothing counted yet."""
        self.budget = budget
        self._hits: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def take(self, key: str, now: float) -> int | None:
        """Count a request by `key` at `now` and return None, or the whole seconds to wait (>= 1) when refused."""
        until = self._blocked_until.get(key)
        if until is not None:
            if now < until:
                return _seconds(until - now)
            del self._blocked_until[key]
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.budget.seconds:
            hits.popleft()
        if len(hits) < self.budget.requests:
            hits.append(now)
            return None
        if self.budget.block is not None:
            self._blocked_until[key] = now + self.budget.block
            return _seconds(self.budget.block)
        return _seconds(hits[0] + self.budget.seconds - now)


def _seconds(wait: float) -> int:
    """A wait as Cloudflare's Retry-After: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(wait))
