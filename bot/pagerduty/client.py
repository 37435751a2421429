"""The PagerDuty REST API v2 client: who is on call now in some schedules (the `OnCall` port over httpx).

One question, `GET /oncalls?schedule_ids[]=…&earliest=true&include[]=users`, page by page (`offset`, `limit`,
until `more` is false). With `include[]=users` each entry's `user` comes back as the whole User object, so its
`email` is there to match the Slack person by. How an outcome becomes a result or an exception::

    httpx.TimeoutException / connection error ─────► TransientError (status None)
    429 ──► Retry-After ≤ max_wait: wait, try once more; else TransientError(status=429, retry_after)
    5xx ──────────────────────────────────────────► TransientError(status)
    401 / 403 / 400 / other 4xx ──────────────────► PermanentError(status, PagerDuty's error code + message)
    2xx that is not an `oncalls` page ────────────► TransientError (a proxy in the way)

The token is only ever sent in the `Authorization: Token token=…` header, never in a message or a log line.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from bot.cloudflare.retry_after import parse_retry_after
from bot.domain.errors import PermanentError, TransientError
from bot.domain.ports import OnCallPerson

log = logging.getLogger(__name__)

ACCEPT = "application/vnd.pagerduty+json;version=2"
PER_PAGE = 100  # PagerDuty's largest page for offset pagination
_MAX_PAGES = 100  # a guard against a server that keeps saying "more"


class PagerDutyClient:
    """Who is on call now, from PagerDuty's REST API v2 (implements `bot.domain.ports.OnCall`)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 5.0, max_wait: float = 2.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        """`timeout` bounds each HTTP call; `max_wait` is the longest Retry-After a 429 is waited out (once)."""
        self.base_url = base_url.rstrip("/")
        self.max_wait = max_wait
        self._token = token
        self._http = httpx.AsyncClient(
            headers={"Authorization": f"Token token={token}", "Accept": ACCEPT,
                     "Content-Type": "application/json", "User-Agent": "accessbot"},
            timeout=httpx.Timeout(timeout), transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def on_call_now(self, schedule_ids: tuple[str, ...]) -> tuple[OnCallPerson, ...]:
        """Everyone on call now in any of `schedule_ids`, one entry per person and schedule, in PagerDuty's order."""
        people: dict[tuple[str, str], OnCallPerson] = {}
        offset = 0
        for _ in range(_MAX_PAGES):
            page = await self._page(schedule_ids, offset)
            for entry in page["oncalls"]:
                person = _person(entry)
                if person is not None:
                    people.setdefault((person.user_id, person.schedule_id), person)
            if not page.get("more"):
                break
            offset += len(page["oncalls"]) or PER_PAGE
        return tuple(people.values())

    async def is_on_call(self, email: str, schedule_ids: tuple[str, ...]) -> OnCallPerson | None:
        """The person with this email (any case) if on call now in one of `schedule_ids`, else None."""
        wanted = email.strip().lower()
        for person in await self.on_call_now(schedule_ids):
            if person.email.lower() == wanted:
                return person
        return None

    async def _page(self, schedule_ids: tuple[str, ...], offset: int) -> dict[str, Any]:
        """One page of GET /oncalls; a 429 with a short Retry-After is waited out once."""
        params: list[tuple[str, str | int]] = [("schedule_ids[]", s) for s in schedule_ids]
        params += [("earliest", "true"), ("include[]", "users"), ("limit", PER_PAGE), ("offset", offset)]
        for attempt in (1, 2):
            try:
                resp = await self._http.get(f"{self.base_url}/oncalls", params=params)
            except httpx.TimeoutException as exc:
                raise TransientError(f"PagerDuty did not answer GET /oncalls in time ({type(exc).__name__})") \
                    from None
            except httpx.RequestError as exc:
                raise TransientError(f"PagerDuty unreachable: {type(exc).__name__}") from None
            if resp.status_code == 429:
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                if attempt == 1 and wait is not None and wait <= self.max_wait:
                    await asyncio.sleep(wait)
                    continue
                raise TransientError("PagerDuty rate limit (HTTP 429)", status=429, retry_after=wait,
                                     errors=_errors(resp))
            return _page_of(resp)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _page_of(resp: httpx.Response) -> dict[str, Any]:
    """The JSON page of a final answer, or the error it means."""
    if resp.status_code >= 500:
        raise TransientError(f"PagerDuty failed GET /oncalls (HTTP {resp.status_code})", status=resp.status_code,
                             errors=_errors(resp))
    if resp.status_code >= 300:
        errors = _errors(resp)
        said = f": {errors[0]['code']} {errors[0]['message']}" if errors else ""
        raise PermanentError(f"PagerDuty refused GET /oncalls (HTTP {resp.status_code}){said}",
                             status=resp.status_code, errors=errors)
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("oncalls"), list):
        raise TransientError("PagerDuty answered GET /oncalls with something that is not a page of on-calls",
                             status=resp.status_code)
    return body


def _errors(resp: httpx.Response) -> list[dict[str, Any]]:
    """PagerDuty's `{"error": {"code", "message"}}` as one `{"code", "message"}` item (none when absent)."""
    try:
        error = resp.json().get("error")
    except (ValueError, AttributeError):
        return []
    if not isinstance(error, dict):
        return []
    return [{"code": error.get("code"), "message": str(error.get("message") or "")[:300]}]


def _person(entry: Any) -> OnCallPerson | None:
    """The on-call entry's person (None for one without a user email or schedule: a direct escalation target)."""
    if not isinstance(entry, dict):
        return None
    user, schedule = entry.get("user") or {}, entry.get("schedule") or {}
    email = user.get("email") if isinstance(user, dict) else None
    schedule_id = schedule.get("id") if isinstance(schedule, dict) else None
    if not isinstance(email, str) or not email or not isinstance(schedule_id, str):
        return None
    return OnCallPerson(email=email, name=str(user.get("name") or user.get("summary") or email),
                        user_id=str(user.get("id") or ""), schedule_id=schedule_id)


__all__ = ["ACCEPT", "PER_PAGE", "PagerDutyClient"]
