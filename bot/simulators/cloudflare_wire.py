"""What the Cloudflare simulator sends back: envelopes, error codes, and the records of the requests it got."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

API_PREFIX = "/client/v4"

# Cloudflare-style error codes the simulator answers with.
CODE_AUTH = 10000  # "Authentication error"
CODE_NO_ROUTE = 7000  # "No route for that URI"
CODE_NOT_FOUND = 7003  # "Could not route to ..., perhaps your object identifier is invalid?"
CODE_INVALID = 12130  # Access: "access.api.error.invalid_request"
CODE_RATE_LIMITED = 971  # "Please wait and consider throttling your request speed"
CODE_INTERNAL = 10001  # a server-side failure


@dataclass(frozen=True)
class Call:
    """One request, recorded once answered; `at` is its arrival (monotonic); `status` 0 means it hung.

    `path` includes the query string; `json` is the parsed body (None without one or when not JSON).
    """

    method: str
    path: str
    json: Any
    status: int
    at: float


@dataclass(frozen=True)
class InvalidRequest:
    """A PUT/POST body that failed the OpenAPI schema, and why."""

    method: str
    path: str
    body: Any
    errors: list[str]


def envelope(result: Any, **extra: Any) -> dict[str, Any]:
    """A successful Cloudflare envelope."""
    return {"success": True, "errors": [], "messages": [], "result": result, **extra}


def failure(status: int, code: int, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    """A failed Cloudflare envelope as a response."""
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    return web.json_response(body, status=status, headers=headers)


def now_iso() -> str:
    """Now in UTC, as Cloudflare writes times (`2024-01-01T00:00:00.000000Z`)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def retry_after_header(seconds: float | None) -> dict[str, str]:
    """The Retry-After header for that many seconds (none for None)."""
    return {} if seconds is None else {"Retry-After": f"{seconds:g}"}
