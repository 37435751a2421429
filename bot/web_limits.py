"""Bounds on what one HTTP caller can make the server hold: body size per route, time to send the body,
idle connections, and how many requests are handled at once.

Unauthenticated callers reach the body reader before any signature or token is checked, so these are
what keeps a flood of large, slow bodies from growing memory: a body over its route's limit is refused
(413) from its Content-Length, or as soon as it grows past the limit; a body not complete within
`body_seconds` is refused (408) and its connection closed; a connection that sends no complete request
within `idle_seconds` is closed by aiohttp (its keep-alive timer also runs from the connection's start);
beyond `max_requests` requests at once, new ones are answered 503 at once without reading their bodies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

KIB = 1024


@dataclass(frozen=True)
class Limits:
    """The bounds; the defaults fit Slack's payloads (a few KB; a Home-tab click carries the whole view,
    tens of KB) and `/api` (a request is a role, a duration and a reason of at most 3,000 characters)."""

    slack_body: int = 128 * KIB
    api_body: int = 64 * KIB
    other_body: int = 4 * KIB
    body_seconds: float = 10.0
    idle_seconds: float = 15.0
    linger_seconds: float = 2.0
    max_requests: int = 256
    read_buffer: int = 16 * KIB  # what aiohttp buffers per connection before the body is read (default 64 KiB)

    def body_limit(self, path: str) -> int:
        """The largest body accepted on `path`."""
        if path == "/slack/events":
            return self.slack_body
        if path == "/api" or path.startswith("/api/"):
            return self.api_body
        return self.other_body


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _closing(status: int, error: str, message: str) -> web.Response:
    resp = web.json_response({"error": error, "message": message}, status=status)
    resp.force_close()
    return resp


async def _read_at_most(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past `limit` bytes. Chunks are kept as they come and joined
    once at the end (growing one buffer as they come held about twice the bytes while a body was stalled)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def limits_middleware(limits: Limits | None = None) -> tuple[Any, dict[str, Any]]:
    """The middleware that enforces `limits`, and the aiohttp handler options (idle and lingering times)
    that go with it (`web.Application(handler_args=…)`)."""
    limits = limits or Limits()
    active = 0

    @web.middleware
    async def bounded(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal active
        if active >= limits.max_requests:
            return _closing(503, "busy", "too many requests at once; try again")
        active += 1
        try:
            if request.body_exists:
                limit = limits.body_limit(request.path)
                declared = request.content_length
                if declared is not None and declared > limit:
                    return _closing(413, "too_large", f"the body may be at most {limit} bytes here")
                try:
                    async with asyncio.timeout(limits.body_seconds):
                        body = await _read_at_most(request, limit)
                except TimeoutError:
                    return _closing(408, "too_slow", f"the body did not arrive within {limits.body_seconds:g}s")
                if body is None:
                    return _closing(413, "too_large", f"the body may be at most {limit} bytes here")
                request._read_bytes = body  # noqa: SLF001 - aiohttp's cache of the read body: request.read() returns it
            return await handler(request)
        finally:
            active -= 1

    handler_args = {"keepalive_timeout": limits.idle_seconds, "lingering_time": limits.linger_seconds,
                    "read_bufsize": limits.read_buffer}
    return bounded, handler_args
