"""The Cloudflare simulator's trouble: queued and random faults, the token check and Cloudflare's rate limits."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from bot.simulators.cloudflare_budget import Budget, Refusal, Window
from bot.simulators.cloudflare_wire import (
    CODE_AUTH,
    CODE_INTERNAL,
    CODE_INVALID,
    CODE_NOT_FOUND,
    CODE_RATE_LIMITED,
    failure,
    retry_after_header,
)


@dataclass
class Fault:
    """A fault a test queued: the next `remaining` matching requests get `status` (0: hang, then close)."""

    remaining: int
    status: int
    retry_after: float | None
    method: str | None
    path_contains: str | None = None


class CloudflareFaults:
    """Faults, authentication and rate limiting; mixed into CloudflareSimulator, whose ``__init__`` makes the state."""

    token: str
    hang_seconds: float
    now: Callable[[], float]
    rate_refusals: list[Refusal]
    _token_window: Window
    _ip_window: Window
    fault_rate: float
    fault_kinds: tuple[str, ...]
    fault_retry_after: float | None
    _faults: list[Fault]
    _rng: random.Random
    _closing: asyncio.Event

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        retry_after: float | None = None,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Fail the next `n` requests (of `method`, to a path containing `path_contains`, if given)
        with `status`; 0 means hang, then close.

        A 429 carries `Retry-After: retry_after` when given (any path: a group, revoke_user, the list).
        Several calls queue up in order; every request is recorded in `calls` with its arrival time.
        """
        self._faults.append(
            Fault(n, status, retry_after, method.upper() if method else None, path_contains)
        )

    def set_fault_rate(
        self, rate: float, kinds: Iterable[str] = ("500", "429", "timeout"), retry_after: float | None = 1.0
    ) -> None:
        """Fail a share `rate` of requests at random (seeded): kinds are HTTP statuses or "timeout"."""
        self.fault_rate = rate
        self.fault_kinds = tuple(kinds)
        self.fault_retry_after = retry_after

    def _take_fault(self, method: str, path: str = "") -> tuple[int, float | None] | None:
        """The (status, retry_after) a queued or random fault gives this request, or None."""
        for fault in self._faults:
            if (fault.method is None or fault.method == method) and (
                fault.path_contains is None or fault.path_contains in path
            ):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault.status, fault.retry_after
        if self.fault_rate > 0 and self.fault_kinds and self._rng.random() < self.fault_rate:
            kind = self._rng.choice(self.fault_kinds)
            status = 0 if kind == "timeout" else int(kind)
            return status, self.fault_retry_after if status == 429 else None
        return None

    async def _fault_response(
        self, request: web.Request, status: int, retry_after: float | None
    ) -> web.Response | None:
        """The answer a fault gives: a Cloudflare failure, or None after hanging (the connection is closed)."""
        if status == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=self.hang_seconds)
            if request.transport is not None:
                request.transport.close()
            return None
        if status == 429:
            return failure(
                429,
                CODE_RATE_LIMITED,
                "Please wait and consider throttling your request speed",
                headers=retry_after_header(retry_after),
            )
        if status in (401, 403):
            return failure(status, CODE_AUTH, "Authentication error")
        if status == 404:
            return failure(404, CODE_NOT_FOUND, f"Could not route to {request.path}")
        if status >= 500:
            return failure(status, CODE_INTERNAL, f"Internal server error (simulated HTTP {status})")
        return failure(status, CODE_INVALID, f"Simulated failure (HTTP {status})")

    def _check_auth(self, request: web.Request) -> web.Response | None:
        """A 401/403 failure unless the request carries the bearer token, else None."""
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return failure(401, CODE_AUTH, "Authentication error")
        if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return failure(403, CODE_AUTH, "Authentication error")
        return None

    def set_budgets(self, token: Budget | None = None, ip: Budget | None = None) -> None:
        """Change the rate limits (and forget what was counted under the old ones): `token` for every request
        with the token, `ip` for every request from one client address."""
        if token is not None:
            self._token_window = Window(token)
        if ip is not None:
            self._ip_window = Window(ip)

    def _over_budget(self, request: web.Request) -> web.Response | None:
        """Cloudflare's 429 (code 971, Retry-After) when the client's IP or the token is over its budget, else
        None (and the request counts against both). A refusal is recorded in `rate_refusals`."""
        now = self.now()
        wait = self._ip_window.take(request.remote or "", now)
        scope = "ip"
        if wait is None:
            wait = self._token_window.take(self.token, now)
            scope = "token"
        if wait is None:
            return None
        self.rate_refusals.append(Refusal(scope, now, wait))
        return failure(429, CODE_RATE_LIMITED, "Please wait and consider throttling your request speed",
                       headers=retry_after_header(wait))
