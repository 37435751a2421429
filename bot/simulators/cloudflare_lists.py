"""The Cloudflare simulator's Zero Trust lists: state, POST, GET (items in pages), PATCH append/remove, limits.

Cloudflare's documented limits are enforced: `list_max_items` entries per list (1,000 on the Standard plan; a
PATCH that would pass it is refused whole with Cloudflare's error envelope) and `list_rate_limit` list API
requests per `list_rate_window` seconds (600 per minute), answered with 429 and Retry-After past it.
"""

from __future__ import annotations

import copy
import math
import time
import uuid
from collections import deque
from typing import Any

from aiohttp import web

from bot.simulators.cloudflare_wire import (
    API_PREFIX,
    CODE_INVALID,
    CODE_NOT_FOUND,
    CODE_RATE_LIMITED,
    envelope,
    failure,
    now_iso,
    retry_after_header,
)

LISTS_PATH = "/accounts/{account_id}/gateway/lists"
LIST_PATH = "/accounts/{account_id}/gateway/lists/{list_id}"
LIST_ITEMS_PATH = "/accounts/{account_id}/gateway/lists/{list_id}/items"
CODE_LIST_LIMIT = 2083  # the simulator's code for "the list would exceed its item limit"


class ZeroTrustLists:
    """Zero Trust lists with items; mixed into CloudflareSimulator, which routes the requests here."""

    def _init_lists(self) -> None:
        """The list state and its limits (called from the simulator's `__init__`)."""
        self._lists: dict[tuple[str, str], dict[str, Any]] = {}
        self.list_max_items = 1000
        self.list_rate_limit = 600
        self.list_rate_window = 60.0
        self._list_hits: deque[float] = deque()

    def add_list(self, account_id: str, list_id: str | None = None, *, name: str = "Test list",
                 type_: str = "EMAIL", values: list[str] | None = None) -> dict[str, Any]:
        """Create (or overwrite) a Zero Trust list of `type_` with these item values; its id and details."""
        list_id = list_id or str(uuid.uuid4())
        now = now_iso()
        self._lists[(account_id, list_id)] = {
            "id": list_id, "name": name, "type": type_, "description": "", "created_at": now, "updated_at": now,
            "items": [{"value": v, "created_at": now} for v in values or []],
        }
        return self.zt_list(account_id, list_id)

    def zt_list(self, account_id: str, list_id: str) -> dict[str, Any]:
        """A copy of the list as Cloudflare describes it (with `count`, without items); KeyError if none."""
        stored = self._lists[(account_id, list_id)]
        return {k: copy.deepcopy(v) for k, v in stored.items() if k != "items"} | {"count": len(stored["items"])}

    def list_values(self, account_id: str, list_id: str) -> list[str]:
        """The values on the list, in order (KeyError if there is no such list)."""
        return [i["value"] for i in self._lists[(account_id, list_id)]["items"]]

    def _list_rate_limited(self) -> web.Response | None:
        """The 429 past `list_rate_limit` list requests in `list_rate_window` seconds; None while under it."""
        now = time.monotonic()
        hits = self._list_hits
        while hits and hits[0] <= now - self.list_rate_window:
            hits.popleft()
        if len(hits) >= self.list_rate_limit:
            wait = float(max(1, math.ceil(hits[0] + self.list_rate_window - now)))
            return failure(429, CODE_RATE_LIMITED, "Please wait and consider throttling your request speed",
                           headers=retry_after_header(wait))
        hits.append(now)
        return None

    def _found_list(self, request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
        """The list the request names (after the list rate limit), or the 429/404 to answer instead."""
        limited = self._list_rate_limited()
        if limited is not None:
            return None, limited
        stored = self._lists.get((request.match_info["account_id"], request.match_info["list_id"]))
        if stored is None:
            path = request.path.removeprefix(API_PREFIX)
            return None, failure(404, CODE_NOT_FOUND,
                                 f"Could not route to {path}, perhaps your object identifier is invalid?")
        return stored, None

    async def _create_list(self, request: web.Request) -> web.Response:
        """`POST .../gateway/lists`: a new list (name, type, optional items); the list with its items."""
        limited = self._list_rate_limited()
        if limited is not None:
            return limited
        body, invalid = await self._checked_body(request, LISTS_PATH)  # type: ignore[attr-defined]
        if invalid is not None:
            return invalid
        items = body.get("items") or []
        if len(items) > self.list_max_items:
            return failure(400, CODE_LIST_LIMIT, f"a list can hold at most {self.list_max_items} items on your plan")
        account_id = request.match_info["account_id"]
        made = self.add_list(account_id, name=body["name"], type_=body["type"],
                             values=[i["value"] for i in items if isinstance(i.get("value"), str)])
        stored = self._lists[(account_id, made["id"])]
        return web.json_response(envelope({k: copy.deepcopy(v) for k, v in stored.items()}))

    async def _get_list(self, request: web.Request) -> web.Response:
        """`GET .../gateway/lists/{l}`: the list's details and count."""
        stored, refused = self._found_list(request)
        if refused is not None:
            return refused
        return web.json_response(envelope(self.zt_list(request.match_info["account_id"], stored["id"])))

    async def _get_list_items(self, request: web.Request) -> web.Response:
        """`GET .../gateway/lists/{l}/items`: one page of items, with `result_info` (page, per_page, totals)."""
        stored, refused = self._found_list(request)
        if refused is not None:
            return refused
        try:
            page = int(request.query.get("page", "1"))
            per_page = int(request.query.get("per_page", "50"))
        except ValueError:
            return failure(400, CODE_INVALID, "page and per_page must be integers")
        if page < 1 or not 1 <= per_page <= 1000:
            return failure(400, CODE_INVALID, "page must be >= 1 and per_page between 1 and 1000")
        items = stored["items"]
        chunk = items[(page - 1) * per_page : page * per_page]
        info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items),
                "total_pages": max(1, math.ceil(len(items) / per_page))}
        return web.json_response(envelope(copy.deepcopy(chunk), result_info=info))

    async def _patch_list(self, request: web.Request) -> web.Response:
        """`PATCH .../gateway/lists/{l}`: remove values, append items (a value already there is kept once);
        refused whole when the list would pass `list_max_items`."""
        stored, refused = self._found_list(request)
        if refused is not None:
            return refused
        body, invalid = await self._checked_body(request, LIST_PATH)  # type: ignore[attr-defined]
        if invalid is not None:
            return invalid
        gone = {v.lower() for v in body.get("remove") or []}
        kept = [i for i in stored["items"] if i["value"].lower() not in gone]
        have = {i["value"].lower() for i in kept}
        now = now_iso()
        for item in body.get("append") or []:
            value = item.get("value")
            if isinstance(value, str) and value.lower() not in have:
                kept.append({"value": value, "created_at": now, **({"description": item["description"]}
                                                                   if "description" in item else {})})
                have.add(value.lower())
        if len(kept) > self.list_max_items:
            return failure(400, CODE_LIST_LIMIT,
                           f"This list would have {len(kept)} items; a list can hold at most "
                           f"{self.list_max_items} items on your plan")
        stored["items"] = kept
        stored["updated_at"] = now
        return web.json_response(envelope(self.zt_list(request.match_info["account_id"], stored["id"])))
