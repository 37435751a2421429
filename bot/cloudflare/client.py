"""The Cloudflare API client: Access groups as wholes, Zero Trust lists by item, ending Access sessions.

`CloudflareClient` implements the `bot.domain.ports.AccessGroups` port over `httpx.AsyncClient`.
Each method makes exactly one attempt (a list makes one attempt per page); retrying, backoff and
alerting are the worker's job. Every answer is a Cloudflare envelope
`{"success": bool, "errors": [{"code", "message"}], "messages": [...], "result": ...}`.

How an outcome becomes a result or an exception (from `bot.domain.errors`)::

    gate closed (a recent 429) ───────────────────────────► TransientError (status None, retry_after
                                                             = seconds until it opens; nothing sent)
    no budget for the call (bot.domain.budget) ──────────► BudgetShort (a TransientError; nothing sent)
                                                             once waiting longer than `budget_wait`
    request ──┬── httpx.TimeoutException ─────────────────────────────► TransientError (status None)
              ├── httpx.UnsupportedProtocol / InvalidURL (bad base URL) ► PermanentError (status None)
              ├── other httpx.RequestError (connect, reset, protocol) ──► TransientError (status None)
              └── HTTP response
                    ├── 429 ───────────────────────► TransientError(status=429, retry_after=Retry-After)
                    │                                 (Retry-After as seconds or as an HTTP-date; a
                    │                                 default when absent, capped) and the token's
                    │                                 gate closes until then (and the shared budget
                    │                                 is drained until then, for every replica)
                    ├── 5xx ───────────────────────► TransientError(status, errors)
                    ├── other 4xx ─────────────────► PermanentError(status, errors)
                    ├── 1xx / 3xx (no redirects) ──► PermanentError(status, errors)
                    └── 2xx
                          ├── body not a JSON envelope ► TransientError (a proxy in the way; retry)
                          ├── success is not true ─────► PermanentError(status, errors)
                          └── success true ────────────► `result`

`errors` is Cloudflare's own list, reduced to `{"code", "message"}` items, and the exception message
is plain English, e.g. ``Cloudflare refused PUT group 0f3e… (HTTP 404): 7003 Could not route…``.
The API token is only ever sent in the `Authorization` header: it is never part of a message, a
repr or a log line (messages are scrubbed of it as a second line of defence).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, NoReturn
from urllib.parse import quote, unquote

import httpx

from bot.cloudflare.gate import RateGate, spend_slot
from bot.cloudflare.retry_after import parse_retry_after
from bot.domain.budget import CloudflareBudget
from bot.domain.clock import Clock
from bot.domain.errors import ExternalError, PermanentError, TransientError
from bot.logging_setup import get_logger

log = logging.getLogger(__name__)
_calls = get_logger(__name__)  # one line per call; the grant and request ids come from the context
_GROUP = re.compile(r"/(?:access/groups|gateway/lists)/([^/?]+)")

PER_PAGE = 50
# A guard against a server that keeps saying "there is another page".
_MAX_PAGES = 1000


def _seg(value: str) -> str:
    """One path segment, percent-encoded so an id can never change the path."""
    return quote(str(value), safe="")


class CloudflareClient:
    """Cloudflare Access groups and sessions, one attempt per call (implements `AccessGroups`)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        event_hooks: dict[str, list[Any]] | None = None,
        clock: Clock | None = None,
        gate: RateGate | None = None,
        budget: CloudflareBudget | None = None,
        budget_wait: float = 10.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        """`event_hooks` are httpx's (e.g. `{"response": [hook]}`: the bot's credential health sees every answer).
        `budget` is the token's shared budget every call spends from (None: no budget, only the 429 gate); a
        call that is not prepaid waits for its slot at most `budget_wait` seconds, then raises BudgetShort."""
        self.budget = budget
        self.budget_wait = budget_wait
        self._sleep = sleep
        self.base_url = base_url.rstrip("/")
        # One gate for the token: a 429 on any call holds back every call (bot.cloudflare.gate). Pass
        # one in to share it between clients of the same token.
        self.gate = gate or RateGate(clock)
        self.timeout = timeout
        self._token = token
        self._http = httpx.AsyncClient(
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": "accessbot",
            },
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            event_hooks=event_hooks,
        )

    def __repr__(self) -> str:
        return f"CloudflareClient(base_url={self.base_url!r}, timeout={self.timeout!r})"

    async def __aenter__(self) -> CloudflareClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying HTTP connections."""
        await self._http.aclose()

    # -- the AccessGroups port -------------------------------------------------------------------

    async def get_group(self, account_id: str, group_id: str) -> dict[str, Any]:
        """The Access group (`result` of GET /accounts/{a}/access/groups/{g})."""
        path = f"/accounts/{_seg(account_id)}/access/groups/{_seg(group_id)}"
        result, _ = await self._call("GET", path, op=f"GET group {group_id}")
        return self._expect_dict(result, f"GET group {group_id}")

    async def put_group(self, account_id: str, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the group wholesale with `body` (name, include, exclude, require, ...); the new group."""
        path = f"/accounts/{_seg(account_id)}/access/groups/{_seg(group_id)}"
        result, _ = await self._call("PUT", path, op=f"PUT group {group_id}", json=body)
        return self._expect_dict(result, f"PUT group {group_id}")

    async def revoke_user(self, account_id: str, email: str) -> None:
        """End the person's Access sessions in every app of the account (POST .../revoke_user)."""
        path = f"/accounts/{_seg(account_id)}/access/organizations/revoke_user"
        await self._call(
            "POST", path, op=f"revoke_user {email} in account {account_id}", json={"email": email}
        )

    async def list_groups(self, account_id: str) -> list[dict[str, Any]]:
        """Every Access group of the account, following `result_info` pagination (50 per page)."""
        groups: list[dict[str, Any]] = []
        for page in range(1, _MAX_PAGES + 1):
            result, last = await self._groups_page(account_id, page)
            groups.extend(result)
            if last:
                break
        return groups

    async def find_groups(self, account_id: str, wanted: Collection[str], max_pages: int) -> tuple[set[str], bool]:
        """Page through the account's Access groups until every `wanted` ID was seen or `max_pages` pages were
        read: (the wanted IDs seen, whether every page was read, so that an unseen ID is no group of the
        account)."""
        missing, seen = set(wanted), set()
        for page in range(1, max_pages + 1):
            result, last = await self._groups_page(account_id, page)
            ids = {str(g.get("id")) for g in result if isinstance(g, dict)}
            seen |= missing & ids
            missing -= ids
            if last or not missing:
                return seen, last
        return seen, False

    async def _groups_page(self, account_id: str, page: int) -> tuple[list[dict[str, Any]], bool]:
        """One page (`PER_PAGE` groups) of the account's Access groups, and whether it is the last."""
        path = f"/accounts/{_seg(account_id)}/access/groups"
        op = f"list groups of account {account_id} (page {page})"
        result, info = await self._call("GET", path, op=op, params={"page": page, "per_page": PER_PAGE})
        if not isinstance(result, list):
            self._unexpected(op, "result is not a list")
        return result, not _has_next_page(info, page, len(result))

    # -- Zero Trust lists ------------------------------------------------------------------------

    async def get_list(self, account_id: str, list_id: str) -> dict[str, Any]:
        """The Zero Trust list (`result` of GET /accounts/{a}/gateway/lists/{l}: id, name, type, count)."""
        path = f"/accounts/{_seg(account_id)}/gateway/lists/{_seg(list_id)}"
        result, _ = await self._call("GET", path, op=f"GET list {list_id}")
        return self._expect_dict(result, f"GET list {list_id}")

    async def get_list_items(self, account_id: str, list_id: str) -> list[dict[str, Any]]:
        """Every item of the list, following `result_info` pagination (page/per_page, total_count)."""
        path = f"/accounts/{_seg(account_id)}/gateway/lists/{_seg(list_id)}/items"
        items: list[dict[str, Any]] = []
        page = 1
        while page <= _MAX_PAGES:
            op = f"GET items of list {list_id} (page {page})"
            result, info = await self._call("GET", path, op=op, params={"page": page, "per_page": PER_PAGE})
            if result is None:
                result = []
            if not isinstance(result, list):
                self._unexpected(op, "result is not a list")
            items.extend(i for i in result if isinstance(i, dict))
            if not _has_next_page(info, page, len(result)):
                break
            page += 1
        return items

    async def patch_list(self, account_id: str, list_id: str, append: list[str], remove: list[str]) -> None:
        """One PATCH of the list: `{"append": [{"value": v}...], "remove": [v...]}` (keys left out when empty)."""
        path = f"/accounts/{_seg(account_id)}/gateway/lists/{_seg(list_id)}"
        body: dict[str, Any] = {}
        if append:
            body["append"] = [{"value": v} for v in append]
        if remove:
            body["remove"] = list(remove)
        op = f"PATCH list {list_id} (+{len(append)} -{len(remove)})"
        await self._call("PATCH", path, op=op, json=body)

    # -- plumbing --------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        op: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """One request; the envelope's (`result`, `result_info`), or a Transient/PermanentError."""
        left = self.gate.wait_left()
        if left > 0:
            raise TransientError(
                f"Cloudflare rate-limited this API token; {op} was not sent, calls resume in {left:.1f} s",
                retry_after=left,
            )
        await spend_slot(self.budget, op, self.budget_wait, self._sleep)
        response = await self._send_translating_errors(method, path, op=op, json=json, params=params)
        if response.status_code == 429 and self.budget is not None:  # every replica holds back, not just this one
            await self.budget.drain(self.gate.close(parse_retry_after(response.headers.get("Retry-After"))))
        return self._read_envelope(response, op)

    async def _send_translating_errors(self, method: str, path: str, *, op: str, **kwargs: Any) -> httpx.Response:
        """The response, or the transport failure as a TransientError/PermanentError (secrets scrubbed)."""
        try:
            return await self._send(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientError(
                self._scrub(
                    f"Cloudflare did not answer {op} within {self.timeout:g} s ({type(exc).__name__})"
                )
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentError(
                self._scrub(f"Cannot call Cloudflare for {op}: bad API URL {self.base_url!r} ({exc})")
            ) from None
        except httpx.RequestError as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise TransientError(
                self._scrub(f"Connection to Cloudflare failed during {op}: {detail}")
            ) from None

    def _read_envelope(self, response: httpx.Response, op: str) -> tuple[Any, dict[str, Any]]:
        """The envelope's (`result`, `result_info`); a 429 closes the token-wide gate; any failure raises."""
        status = response.status_code
        envelope = _json_or_none(response)
        errors = _errors_of(envelope)
        if status == 429:
            retry_after = self.gate.close(parse_retry_after(response.headers.get("Retry-After")))
            wait = f", retry after {retry_after:g} s"
            self._raise(
                TransientError,
                f"Cloudflare rate-limited {op} (HTTP 429{wait})",
                status=status,
                errors=errors,
                retry_after=retry_after,
            )
        if status >= 500:
            self._raise(
                TransientError, f"Cloudflare failed {op} (HTTP {status})", status=status, errors=errors
            )
        if status >= 400:
            self._raise(
                PermanentError, f"Cloudflare refused {op} (HTTP {status})", status=status, errors=errors
            )
        if status < 200 or status >= 300:
            self._raise(
                PermanentError, f"Cloudflare answered {op} with HTTP {status}", status=status, errors=errors
            )
        if not isinstance(envelope, dict) or "success" not in envelope:
            self._raise(
                TransientError,
                f"Cloudflare answered {op} with HTTP {status} but not with a JSON envelope",
                status=status,
            )
        if envelope.get("success") is not True:
            self._raise(
                PermanentError, f"Cloudflare refused {op} (HTTP {status})", status=status, errors=errors
            )
        info = envelope.get("result_info")
        return envelope.get("result"), info if isinstance(info, dict) else {}

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The HTTP request, and its log line (method, group, status, ms; the error's type when none came)."""
        started = time.perf_counter()
        status: int | None = None
        try:
            response = await self._http.request(method, self.base_url + path, **kwargs)
            status = response.status_code
            return response
        finally:
            group = _GROUP.search(path)
            error = sys.exc_info()[0]
            _calls.info("cloudflare call", method=method, path=path.split("?")[0],
                        group=unquote(group.group(1)) if group else None, status=status,
                        ms=round((time.perf_counter() - started) * 1000, 1),
                        **({"error": error.__name__} if error is not None else {}))

    def _raise(
        self,
        kind: type[ExternalError],
        what: str,
        *,
        status: int | None,
        errors: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> NoReturn:
        errors = errors or []
        if errors:
            what += ": " + "; ".join(f"{e['code']} {e['message']}".strip() for e in errors)
        errors = [{k: self._scrub(v) if isinstance(v, str) else v for k, v in e.items()} for e in errors]
        raise kind(self._scrub(what), status=status, retry_after=retry_after, errors=errors)

    def _expect_dict(self, result: Any, op: str) -> dict[str, Any]:
        if not isinstance(result, dict):
            self._unexpected(op, "result is not an object")
        return result

    def _unexpected(self, op: str, why: str) -> NoReturn:
        raise PermanentError(
            self._scrub(f"Cloudflare answered {op} with an unexpected body: {why}"), status=200
        )

    def _scrub(self, text: str) -> str:
        """`text` without the token, should anything ever echo it."""
        return text.replace(self._token, "[token]") if self._token else text


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _errors_of(envelope: Any) -> list[dict[str, Any]]:
    """Cloudflare's `errors` as `{"code", "message"}` items (anything odd is made readable, not dropped)."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("errors"), list):
        return []
    out = []
    for item in envelope["errors"]:
        if isinstance(item, dict):
            out.append({"code": item.get("code"), "message": str(item.get("message", ""))})
        else:
            out.append({"code": None, "message": str(item)})
    return out


def _has_next_page(info: dict[str, Any], page: int, got: int) -> bool:
    """Whether `result_info` says there is a page after `page` (total_pages, else total_count, else size)."""
    if got == 0:
        return False
    total_pages = info.get("total_pages")
    if isinstance(total_pages, int | float) and not isinstance(total_pages, bool):
        return page < total_pages
    total_count = info.get("total_count")
    per_page = info.get("per_page") or PER_PAGE
    if isinstance(total_count, int | float) and not isinstance(total_count, bool):
        return page * per_page < total_count
    return got >= per_page > 0


__all__ = ["PER_PAGE", "CloudflareClient", "parse_retry_after"]
