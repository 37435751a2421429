"""Slack's documented Web API rate limits, and the pacer that keeps every call this process makes inside them.

Source: https://api.slack.com/apis/rate-limits (checked December 2026). Limits apply "per API method per app per
workspace" in tiers: Tier 1 1+ per minute, Tier 2 20+, Tier 3 50+, Tier 4 100+; `chat.postMessage` is a special
tier that "generally allows posting one message per second per channel, while also maintaining a workspace-wide
limit" (its reference page: short bursts above one a second are allowed; the workspace-wide limit is "several
hundred messages per minute"). Each method's tier is the "Rate limits" fact on its reference page
(https://api.slack.com/methods/<method>). The figures below are the floors of those ranges, so the bot stays
inside whatever a workspace really allows; a method missing from the table is paced as Tier 2, which "most
methods" allow at least.

A 429 answers with `Retry-After`; it closes only the method it came from (for `chat.postMessage`, only that
channel) for that long. Other methods and other conversations keep going.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

TIER_PER_MINUTE = {1: 1.0, 2: 20.0, 3: 50.0, 4: 100.0}
METHOD_TIER = {
    "apps.connections.open": 1,
    "auth.test": 4,  # "special" on its reference page; paced as Tier 4
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "conversations.info": 3,
    "conversations.open": 3,
    "usergroups.users.list": 2,
    "users.info": 4,
    "users.list": 2,
    "users.lookupByEmail": 3,
    "views.open": 4,
    "views.publish": 4,
    "views.update": 4,
}
DEFAULT_TIER = 2
POST_MESSAGE = "chat.postMessage"
# chat.postMessage: one message per second per channel (short bursts allowed), and a workspace-wide limit of
# "several hundred messages per minute": 300 a minute, the lowest figure those words allow.
POST_PER_CHANNEL_PER_SECOND = 1.0
POST_CHANNEL_BURST = 3.0
POST_WORKSPACE_PER_MINUTE = 300.0
# A method's burst: this many seconds of its rate at once (at least one call). Slack tolerates "a small
# amount of burst" (Tier 1) up to "generous burst behavior" (Tier 4); six seconds' worth stays well inside.
BURST_SECONDS = 6.0
# A closed method (after a 429) whose Retry-After ends within this many seconds is waited for; a longer one
# is answered at once as Slack would have answered (429 with the time left), so the caller's work is retried
# later instead of holding a worker.
MAX_CLOSED_WAIT = 1.0
# A call whose token is further off than this (or than one token's interval, for a slow method) is not
# queued: it is answered at once as a 429 with the wait as Retry-After, so a busy channel (the approval
# channel, hundreds of requests' posts) does not hold every Slack worker while other conversations have
# work; the scheduler tries that conversation again then.
MAX_PACE_WAIT = 2.0
# The error of those answers: nothing was sent (the scheduler postpones the conversation without counting a
# failed attempt, as it does for Slack's own `ratelimited`).
NOT_SENT = "ratelimited_not_sent"
# Channels' buckets kept at most before the full ones (idle channels) are forgotten.
MAX_BUCKETS = 2000


@dataclass(frozen=True)
class Limit:
    """A token bucket's rate (calls a second) and burst (calls at once)."""

    per_second: float
    burst: float


def method_limit(method: str, share: float = 1.0) -> Limit:
    """The workspace-wide limit of one Web API method, times this process's share of it."""
    if method == POST_MESSAGE:
        per_second = POST_WORKSPACE_PER_MINUTE / 60
    else:
        per_second = TIER_PER_MINUTE[METHOD_TIER.get(method, DEFAULT_TIER)] / 60
    rate = per_second * share
    return Limit(rate, max(1.0, rate * BURST_SECONDS))


def channel_limit(share: float = 1.0) -> Limit:
    """chat.postMessage's limit in one channel, times this process's share of it."""
    return Limit(POST_PER_CHANNEL_PER_SECOND * share, max(1.0, POST_CHANNEL_BURST * share))


class Bucket:
    """A token bucket that hands out reservations: a call takes the next token, now or when it will exist."""

    def __init__(self, limit: Limit, now: float) -> None:
        """A full bucket."""
        self.limit = limit
        self.tokens = limit.burst
        self.stamp = now

    def wait(self, now: float) -> float:
        """Seconds until the next token exists (0: there is one now); nothing taken."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.limit.per_second

    def reserve(self, now: float) -> float:
        """Take one token; seconds until it exists (0: at once)."""
        self._refill(now)
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.limit.per_second

    def empty(self, now: float) -> None:
        """Slack said stop: no burst left when the method opens again."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)

    def _refill(self, now: float) -> None:
        """Add the tokens earned since the last look, up to the burst."""
        if now > self.stamp:
            self.tokens = min(self.limit.burst, self.tokens + (now - self.stamp) * self.limit.per_second)
            self.stamp = now


class RateLimited(Exception):
    """The pacer's own 429: the method (or channel) is closed by Slack's Retry-After for `retry_after` more
    seconds; the call was not sent."""

    def __init__(self, method: str, channel: str | None, retry_after: float) -> None:
        super().__init__(f"{method} rate limited for {retry_after:.1f}s more")
        self.method = method
        self.channel = channel
        self.retry_after = retry_after


class SlackPacer:
    """One per process, shared by every Web API call it makes: a bucket per method (and per channel for
    chat.postMessage) at `share` of Slack's documented rate, and the methods closed by a 429 until when."""

    def __init__(self, share: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 retry_clock: Callable[[], float] | None = None) -> None:
        """`share`: the part of the workspace's limits this process may use (1 / replicas). `clock` and `sleep`
        pace the buckets; `retry_clock` (seconds; default `clock`) times a 429's Retry-After, on the same clock
        the scheduler retries by (the bot's clock, which tests move by hand)."""
        if not 0 < share <= 1:
            raise ValueError("the rate share must be above 0 and at most 1")
        self.share = share
        self._clock = clock
        self._sleep = sleep
        self._retry_clock = retry_clock or clock
        self._buckets: dict[tuple[str, str | None], Bucket] = {}
        self._closed: dict[tuple[str, str | None], float] = {}
        self.calls = 0  # calls let through
        self.waited = 0.0  # seconds calls spent waiting for their token
        self.limited = 0  # 429s Slack answered
        self.deferred = 0  # calls answered "later" because their turn was more than MAX_PACE_WAIT off

    def __deepcopy__(self, memo: dict[int, Any]) -> SlackPacer:
        """Itself: bolt deep-copies a request's client, and the copies must share this pacer."""
        return self

    def _keys(self, method: str, channel: str | None) -> list[tuple[str, str | None]]:
        """The buckets a call spends from: its method's, and for chat.postMessage its channel's."""
        keys: list[tuple[str, str | None]] = [(method, None)]
        if method == POST_MESSAGE and channel:
            keys.append((method, channel))
        return keys

    def _bucket(self, key: tuple[str, str | None], now: float) -> Bucket:
        """The bucket of `key` (made full on first use)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            limit = channel_limit(self.share) if key[1] else method_limit(key[0], self.share)
            bucket = self._buckets[key] = Bucket(limit, now)
        return bucket

    def _forget_full(self, now: float) -> None:
        """Drop the channels' buckets that are full again (a new one starts full: nothing is lost)."""
        for key in [k for k, b in self._buckets.items() if k[1] and b.wait(now) == 0 and b.tokens >= b.limit.burst]:
            del self._buckets[key]

    def closed_for(self, method: str, channel: str | None = None) -> float:
        """Seconds the method (or channel) stays closed by a 429 (0: open)."""
        now = self._retry_clock()
        return max([self._closed.get(k, 0.0) - now for k in self._keys(method, channel)] + [0.0])

    async def acquire(self, method: str, channel: str | None = None) -> None:
        """Wait until this call may go out; RateLimited (nothing sent) if Slack closed it for longer than
        MAX_CLOSED_WAIT, or its turn is further off than MAX_PACE_WAIT."""
        closed = self.closed_for(method, channel)
        if closed > MAX_CLOSED_WAIT:
            raise RateLimited(method, channel, closed)
        if closed > 0:
            await self._sleep(closed)
            self.waited += closed
        now = self._clock()
        keys = self._keys(method, channel)
        buckets = [self._bucket(k, now) for k in keys]
        turn = max(b.wait(now) for b in buckets)
        # the next token is always waited for (a slow method's is 3 s off); a turn further off than that is not
        if turn > max(MAX_PACE_WAIT, *(1 / b.limit.per_second for b in buckets)) + 1e-9:
            self.deferred += 1
            raise RateLimited(method, channel, turn)
        wait = max(b.reserve(now) for b in buckets)
        if wait > 0:
            self.waited += wait
            await self._sleep(wait)
        self.calls += 1

    def limited_by_slack(self, method: str, channel: str | None, retry_after: float | None) -> None:
        """Slack answered 429: close the method (chat.postMessage: that channel) for Retry-After seconds."""
        self.limited += 1
        now = self._retry_clock()
        key = (method, channel) if method == POST_MESSAGE and channel else (method, None)
        for old in [k for k, until in self._closed.items() if until <= now]:
            del self._closed[old]
        self._closed[key] = max(self._closed.get(key, 0.0), now + (retry_after if retry_after else 1.0))
        self._bucket(key, self._clock()).empty(self._clock())
