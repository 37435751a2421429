"""Credential health: whether Slack and Cloudflare accept the bot's credentials, as its last calls found.

One `CredentialHealth` per bot. The adapters report into it at their single choke point, not per call site:

- Slack: `SlackObserver`, a slack_sdk retry handler that never retries but sees every Web API response of
  the bot's client (bolt copies the handlers into the client it makes per request, so its calls count too).
- Cloudflare: `cloudflare_observer`, an httpx response hook of `CloudflareClient`, sees every response.

A refused token (Slack's invalid_auth, not_authed, token_revoked, token_expired, account_inactive;
Cloudflare's 401/403 or error 10000 "Authentication error") marks the upstream rejected; any later call it
answers successfully marks it accepted again. `/healthz` answers 503 while one is rejected and `/metrics`
shows `accessbot_credentials_ok{upstream}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger(__name__)

UPSTREAMS = ("slack", "cloudflare")
# Slack errors that mean the token itself is refused (not a missing scope, not a bad argument).
SLACK_TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired",
                                "account_inactive", "not_allowed_token_type"})
# Cloudflare error codes about the token: 10000 Authentication error, 9106/9109 missing or invalid
# credentials, 6003/6111 a malformed Authorization header.
CLOUDFLARE_AUTH_CODES = frozenset({10000, 9106, 9109, 6003, 6111})


class CredentialHealth:
    """The current verdict per upstream: accepted (no entry) or rejected with a reason."""

    def __init__(self, *, recheck_interval: float = 30.0) -> None:
        self._rejected: dict[str, str] = {}
        # Off during the start-up checks, whose own one-line refusal says it; `serve` turns it on once it listens.
        self.announce = False
        self.recheck_interval = recheck_interval
        self._probes: dict[str, Callable[[], Awaitable[Any]]] = {}
        self._probed_at: dict[str, float] = {}
        self._probing: dict[str, asyncio.Task[None]] = {}

    def add_probe(self, upstream: str, probe: Callable[[], Awaitable[Any]]) -> None:
        """A cheap call through the observed client (auth.test, a GET of a role's group) that `recheck` makes
        while the upstream rejects the credentials, so a fixed token is seen even when nothing else calls."""
        self._probes[upstream] = probe

    def recheck(self) -> None:
        """Start a probe of each rejecting upstream, at most once per `recheck_interval`; never waits for it
        (its observer records the answer; /healthz calls this and answers with what is known now)."""
        now = time.monotonic()
        for upstream in list(self._rejected):
            probe = self._probes.get(upstream)
            running = self._probing.get(upstream)
            if probe is None or (running is not None and not running.done()):
                continue
            if now - self._probed_at.get(upstream, -1e9) < self.recheck_interval:
                continue
            self._probed_at[upstream] = now
            self._probing[upstream] = asyncio.create_task(_quietly(probe), name=f"recheck {upstream}")

    def rejected(self, upstream: str, reason: str) -> None:
        """The upstream refused the bot's credentials (logged once per change)."""
        if self.announce and self._rejected.get(upstream) != reason:
            log.error("%s rejects the bot's credentials: %s", upstream, reason)
        self._rejected[upstream] = reason

    def accepted(self, upstream: str) -> None:
        """A call to the upstream succeeded: its credentials work (logged when it recovers)."""
        if self._rejected.pop(upstream, None) is not None and self.announce:
            log.warning("%s accepts the bot's credentials again", upstream)

    def problems(self) -> dict[str, str]:
        """Upstream → why it rejects the credentials, for every upstream that does now."""
        return dict(self._rejected)

    def ok(self, upstream: str) -> bool:
        """True unless the upstream's last verdict was a rejection."""
        return upstream not in self._rejected


async def _quietly(probe: Callable[[], Awaitable[Any]]) -> None:
    """Run a probe; its failure is already recorded by the observer that saw the answer."""
    with contextlib.suppress(Exception):
        await probe()


class SlackObserver(AsyncRetryHandler):
    """A slack_sdk retry handler that never asks for a retry: it reports each Web API answer to the health."""

    def __init__(self, health: CredentialHealth) -> None:
        super().__init__(max_retry_count=0)
        self.health = health

    def __deepcopy__(self, memo: dict[int, Any]) -> SlackObserver:
        """Itself: bolt deep-copies a request's client for lazy listeners, and every copy must report here."""
        return self

    async def can_retry_async(self, *, state: RetryState, request: HttpRequest,
                              response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        """Record what the answer says about the token; always False (retrying is the outbox's job)."""
        body = response.body if response is not None else None
        if isinstance(body, dict) and "ok" in body:
            if body.get("ok") is True:
                self.health.accepted("slack")
            elif body.get("error") in SLACK_TOKEN_ERRORS:
                self.health.rejected("slack", f"Slack answered {body['error']} (SLACK_BOT_TOKEN)")
        return False

    async def _can_retry_async(self, **_: Any) -> bool:  # the abstract hook; can_retry_async is overridden
        return False


def cloudflare_observer(health: CredentialHealth) -> Callable[[httpx.Response], Awaitable[None]]:
    """An httpx response hook for `CloudflareClient`: a 2xx marks the token accepted; a 401/403, or a 4xx whose
    envelope carries an authentication error code, marks it rejected."""

    async def observe(response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            health.accepted("cloudflare")
            return
        if not 400 <= status < 500 or status == 429:
            return
        await response.aread()
        errors = _cloudflare_errors(response.content)
        if status in (401, 403) or CLOUDFLARE_AUTH_CODES.intersection(errors):
            detail = "; ".join(f"{code} {message}".strip() for code, message in errors.items()) or "no detail"
            health.rejected("cloudflare", f"Cloudflare answered HTTP {status} ({detail}) (CLOUDFLARE_API_TOKEN)")

    return observe


def _cloudflare_errors(content: bytes) -> dict[Any, str]:
    """Cloudflare's error codes and messages from an envelope (empty when the body is not one)."""
    try:
        envelope = json.loads(content)
    except ValueError:
        return {}
    errors = envelope.get("errors") if isinstance(envelope, dict) else None
    out: dict[Any, str] = {}
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, dict):
            out[item.get("code")] = str(item.get("message", ""))[:200]
    return out
