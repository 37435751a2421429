"""Slack Web API failures mapped onto the domain's retry-or-give-up errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.domain.errors import ExternalError, PermanentError, TransientError

T = TypeVar("T")
_TRANSIENT = {"ratelimited", "ratelimited_not_sent", "internal_error", "fatal_error", "service_unavailable",
              "request_timeout", "team_added_to_org"}


def translate(exc: Exception) -> ExternalError:
    """The domain error for a Slack call that failed."""
    if isinstance(exc, SlackApiError):
        resp = exc.response
        status = getattr(resp, "status_code", None)
        error = (resp.get("error") if hasattr(resp, "get") else None) or "unknown_error"
        if status == 429 or error in _TRANSIENT or (status or 0) >= 500:
            ra = None
            try:
                ra = float(resp.headers.get("Retry-After") or resp.headers.get("retry-after") or 0) or None
            except (TypeError, ValueError, AttributeError):
                ra = None
            return TransientError(f"Slack: {error}", status=status, retry_after=ra,
                                  errors=[{"code": error, "message": error}])
        return PermanentError(f"Slack: {error}", status=status, errors=[{"code": error, "message": error}])
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return TransientError(f"Slack unreachable: {type(exc).__name__}")
    return PermanentError(f"Slack call failed: {type(exc).__name__}: {exc}")


async def call(fn: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
    """Call a Web API method, raising TransientError or PermanentError on failure."""
    try:
        return await fn(**kwargs)
    except (TimeoutError, SlackApiError, aiohttp.ClientError, ConnectionError) as exc:
        raise translate(exc) from exc
