"""Cloudflare's call budget: one token bucket for the API token, shared by every replica; removals first.

Cloudflare allows an API token 1,200 calls in any 5 minutes (and a client IP 200 a second); past it every
call is refused for 5 minutes. The bot spends from a token bucket sized so it can never get there: it holds
at most `burst` calls and refills at `rate = (calls - burst) / window`, so in any `window` seconds at most
`burst + rate * window = calls` go out (default 1,100 per 300 s, headroom below 1,200 for clock skew), and in
any second at most `burst + rate` (far below 200).

Priorities (`CallKind`): a removal may book a slot up to `max_wait` seconds ahead (the level goes below zero
and the caller sleeps until its slot), so removals queue in order and never fail for want of budget in
normal operation. An add only goes when, after it, `reserve` calls are left for removals; a read (reconcile,
checks) only when twice that is left. When the budget runs short, adds and reads are told how long to wait
(`BudgetShort`) while removals keep their slots: removals go first.

The waiting is the adaptive batching window: with budget to spare a write books no wait and goes at once;
as the bucket empties, a group's write waits for its slot, and whatever falls due on that group meanwhile
rides on the same write.

Callers state what their calls are for with `spending(kind, prepaid=n)`: the scheduler books a whole group
write (GET + PUT) in one take before it starts, and the client's calls inside the block use those booked
slots; any other call takes its own slot as a read unless told otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from bot.domain.clock import Clock
from bot.domain.errors import TransientError
from bot.domain.lanes import LANE_CF_REMOVE

# Cloudflare's documented limits (developers.cloudflare.com/fundamentals/api/reference/limits).
CLOUDFLARE_CALLS = 1200
CLOUDFLARE_WINDOW = 300.0
CLOUDFLARE_PER_SECOND = 200


class CallKind(IntEnum):
    """What a Cloudflare call is for, most urgent first."""

    REMOVAL = 0
    ADD = 1
    READ = 2


def kind_of_lane(lane: int) -> CallKind:
    """The call kind of an outbox lane's Cloudflare work: removals in the removal lane, the rest as adds."""
    return CallKind.REMOVAL if lane == LANE_CF_REMOVE else CallKind.ADD


class BudgetShort(TransientError):
    """No slot for this call now without eating into what removals need; try again after `retry_after`."""


@dataclass(frozen=True)
class Bucket:
    """The bucket's state: `level` calls available at `at` (epoch seconds); below zero, slots booked ahead; no
    call at all before `blocked_until` (a 429's Retry-After)."""

    level: float
    at: float
    blocked_until: float = 0.0


@dataclass(frozen=True)
class BudgetPolicy:
    """At most `calls` per `window` seconds, `burst` of them at once; shares and waits as the module says."""

    calls: int = 1100
    window: float = CLOUDFLARE_WINDOW
    burst: int = 50
    reserve: int = 16
    max_wait: float = 30.0

    def __post_init__(self) -> None:
        """Refuse a budget that would not refill, or whose burst reaches a second's limit."""
        if not 0 < self.burst < self.calls:
            raise ValueError(f"the Cloudflare burst ({self.burst}) must be between 0 and the budget ({self.calls})")
        if self.window <= 0 or self.max_wait < 0 or self.reserve < 0:
            raise ValueError("the Cloudflare budget's window must be positive, its reserve and wait not negative")

    @property
    def rate(self) -> float:
        """Calls per second the bucket refills by."""
        return (self.calls - self.burst) / self.window

    def full(self, now: float) -> Bucket:
        """A bucket nobody has spent from."""
        return Bucket(float(self.burst), now)

    def take(self, bucket: Bucket, n: int, kind: CallKind, now: float) -> tuple[Bucket, float]:
        """Book `n` calls of `kind` at `now`: (the new bucket, seconds to wait before calling), or raise
        `BudgetShort` with how long to wait before asking again (the bucket unchanged)."""
        if now < bucket.blocked_until:
            raise BudgetShort(f"Cloudflare answered 429; calls resume in {bucket.blocked_until - now:.1f} s",
                              retry_after=bucket.blocked_until - now)
        elapsed = max(0.0, now - bucket.at)  # a replica's clock behind the last writer's refills nothing
        level = min(float(self.burst), bucket.level + elapsed * self.rate) - n
        floor = self._floor(kind)
        if level < floor:
            retry = (floor - level) / self.rate
            raise BudgetShort(f"Cloudflare budget short for {kind.name.lower()}s; next slot in {retry:.1f} s",
                              retry_after=retry)
        return Bucket(level, max(now, bucket.at), bucket.blocked_until), max(0.0, -level / self.rate)

    def drain(self, bucket: Bucket, seconds: float, now: float) -> Bucket:
        """Cloudflare answered 429 with Retry-After `seconds`: no call of any kind, from any replica, until then."""
        return Bucket(bucket.level, bucket.at, max(bucket.blocked_until, now + max(0.0, seconds)))

    def _floor(self, kind: CallKind) -> float:
        """The lowest level a take of `kind` may leave: removals may book ahead, adds and reads leave a reserve."""
        if kind is CallKind.REMOVAL:
            return -self.max_wait * self.rate
        return float(self.reserve if kind is CallKind.ADD else 2 * self.reserve)


class CloudflareBudget(Protocol):
    """The token's budget, shared by every process that uses the token."""

    async def take(self, n: int, kind: CallKind) -> float:
        """Book `n` calls: seconds to wait before making them; raises `BudgetShort` when there is no slot."""
        ...

    async def drain(self, seconds: float) -> None:
        """A 429 came anyway: nobody (no replica) gets a slot for `seconds`."""
        ...


class MemoryBudget:
    """The budget of one process (tests, a single replica without a shared database)."""

    def __init__(self, policy: BudgetPolicy, clock: Clock) -> None:
        """A full bucket."""
        self.policy = policy
        self._clock = clock
        self._bucket = policy.full(clock.now().timestamp())

    async def take(self, n: int, kind: CallKind) -> float:
        """Book `n` calls (see `BudgetPolicy.take`)."""
        self._bucket, wait = self.policy.take(self._bucket, n, kind, self._clock.now().timestamp())
        return wait

    async def drain(self, seconds: float) -> None:
        """No slot for `seconds` (see `BudgetPolicy.drain`)."""
        self._bucket = self.policy.drain(self._bucket, seconds, self._clock.now().timestamp())


@dataclass
class _Spending:
    kind: CallKind
    prepaid: int


_spending: ContextVar[_Spending | None] = ContextVar("cloudflare_spending", default=None)


@contextlib.contextmanager
def spending(kind: CallKind, prepaid: int = 0) -> Iterator[None]:
    """Calls made inside are of `kind`; the first `prepaid` of them were booked already."""
    token = _spending.set(_Spending(kind, prepaid))
    try:
        yield
    finally:
        _spending.reset(token)


def current_kind() -> CallKind:
    """The kind of a call made now (a read when nobody said)."""
    s = _spending.get()
    return s.kind if s is not None else CallKind.READ


def use_prepaid() -> bool:
    """Whether a call made now uses a slot booked already (and uses it up)."""
    s = _spending.get()
    if s is None or s.prepaid <= 0:
        return False
    s.prepaid -= 1
    return True


__all__ = ["CLOUDFLARE_CALLS", "CLOUDFLARE_PER_SECOND", "CLOUDFLARE_WINDOW", "Bucket", "BudgetPolicy",
           "BudgetShort", "CallKind", "CloudflareBudget", "MemoryBudget", "current_kind", "kind_of_lane",
           "spending", "use_prepaid"]
