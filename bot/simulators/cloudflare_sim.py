"""A fake Cloudflare API (Access groups, Zero Trust lists, revoke_user) with real state, for tests and the demo.

`CloudflareSimulator` is a small aiohttp server on 127.0.0.1 (a free port) that behaves like the
parts of the Cloudflare v4 API the bot uses:

- ``GET  /client/v4/accounts/{a}/access/groups``                 list, with ``result_info`` pagination
- ``GET  /client/v4/accounts/{a}/access/groups/{g}``             one group
- ``PUT  /client/v4/accounts/{a}/access/groups/{g}``             replace the group wholesale
- ``POST /client/v4/accounts/{a}/access/organizations/revoke_user``  ``{"email": ...}`` → ``true``
- ``POST .../gateway/lists``, ``GET/PATCH .../gateway/lists/{l}``, ``GET .../items``: Zero Trust lists
  (``cloudflare_lists``: append/remove, items pages, the 1,000-item and 600-a-minute limits)

Every answer is a Cloudflare envelope ``{success, errors, messages, result}``. Every request needs
``Authorization: Bearer <token>`` (401/403 with code 10000 otherwise), and every PUT/POST body is
validated against the requestBody schema of Cloudflare's own OpenAPI document
(``cloudflare_openapi_subset.json``, a verbatim subset of github.com/cloudflare/api-schemas); a body
that does not validate gets a 400 and is recorded in ``invalid_requests``. So a test passes only if
the bot sends what the real API would accept.

Tests look at the state (``group()``, ``revoked_users``), at the traffic (``calls``, ``count()``) and
inject trouble: ``fail_next()`` for the next n requests, ``set_fault_rate()`` for random 500/429/
timeouts (seeded). Cloudflare's rate limits are on by default with the real numbers (`cloudflare_budget`):
1,200 requests per 5 minutes per token (then blocked for 5 minutes) and 200 per second per client IP;
past either a request gets 429, code 971 and a Retry-After, and is recorded in ``rate_refusals``. Lower
them with ``token_budget=``/``ip_budget=`` (or ``set_budgets()``); ``now`` is the budgets' clock.

    async with CloudflareSimulator() as sim:
        group = sim.add_group("acc1", name="Grafana users")
        client = CloudflareClient(sim.base_url, sim.token)

This module is the server, its state and the handlers; `cloudflare_openapi` is the schema check (shared with
the tests), `cloudflare_faults` the faults, token check and rate limit, `cloudflare_wire` the envelopes.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.simulators.cloudflare_budget import IP_BUDGET, TOKEN_BUDGET, Budget, Refusal, Window
from bot.simulators.cloudflare_faults import CloudflareFaults, Fault
from bot.simulators.cloudflare_lists import LIST_ITEMS_PATH, LIST_PATH, LISTS_PATH, ZeroTrustLists
from bot.simulators.cloudflare_openapi import GROUP_PATH, GROUPS_PATH, REVOKE_PATH, body_errors, load_validators
from bot.simulators.cloudflare_wire import (
    API_PREFIX,
    CODE_INVALID,
    CODE_NO_ROUTE,
    CODE_NOT_FOUND,
    Call,
    InvalidRequest,
    envelope,
    failure,
    now_iso,
)

__all__ = ["Call", "CloudflareSimulator", "InvalidRequest"]

_READ_ONLY = ("id", "created_at", "updated_at")
_NO_BODY = object()


class CloudflareSimulator(CloudflareFaults, ZeroTrustLists):
    """An in-process Cloudflare API with state, schema validation, faults and rate limiting."""

    def __init__(
        self, token: str = "cf-test-token", *, schema_path: Path | None = None, seed: int = 0,
        token_budget: Budget = TOKEN_BUDGET, ip_budget: Budget = IP_BUDGET,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        """A simulator with no groups or faults; `schema_path` replaces Cloudflare's schema, `seed` fixes ids,
        `token_budget`/`ip_budget` replace Cloudflare's rate limits and `now` (seconds) is their clock."""
        self.token = token
        self.base_url: str | None = None
        self.calls: list[Call] = []
        self.revoked_users: list[tuple[str, str]] = []
        self.invalid_requests: list[InvalidRequest] = []
        self.hang_seconds = 30.0
        self.now = now
        self.rate_refusals: list[Refusal] = []
        self._token_window = Window(token_budget)
        self._ip_window = Window(ip_budget)
        self.fault_rate = 0.0
        self.fault_kinds: tuple[str, ...] = ("500", "429", "timeout")
        self.fault_retry_after: float | None = 1.0
        self._groups: dict[tuple[str, str], dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)
        self._id_rng = random.Random(seed)
        self._validators = load_validators(schema_path)
        self._init_lists()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (`port`, default a free one); the base URL, e.g. ``http://127.0.0.1:PORT/client/v4``."""
        if self._runner is not None:
            assert self.base_url is not None
            return self.base_url
        self._closing = asyncio.Event()
        app = web.Application(middlewares=[self._middleware], client_max_size=1024**2)
        prefix = API_PREFIX
        app.router.add_get(prefix + GROUPS_PATH, self._list_groups)
        app.router.add_get(prefix + GROUP_PATH, self._get_group)
        app.router.add_put(prefix + GROUP_PATH, self._put_group)
        app.router.add_post(prefix + REVOKE_PATH, self._revoke_user)
        app.router.add_post(prefix + LISTS_PATH, self._create_list)
        app.router.add_get(prefix + LIST_PATH, self._get_list)
        app.router.add_patch(prefix + LIST_PATH, self._patch_list)
        app.router.add_get(prefix + LIST_ITEMS_PATH, self._get_list_items)
        app.router.add_route("*", "/{tail:.*}", self._no_route)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}{API_PREFIX}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving (requests left hanging are closed at once)."""
        self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> CloudflareSimulator:
        """Start serving; the simulator."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop serving."""
        await self.stop()

    # -- state -----------------------------------------------------------------------------------

    def add_group(
        self,
        account_id: str,
        group_id: str | None = None,
        name: str = "Test group",
        include: list[dict[str, Any]] | None = None,
        exclude: list[dict[str, Any]] | None = None,
        require: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create (or overwrite) a group as Cloudflare stores it; returns a copy of it."""
        group_id = group_id or str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))
        now = now_iso()
        group = {
            "id": group_id,
            "name": name,
            "include": copy.deepcopy(include or []),
            "exclude": copy.deepcopy(exclude or []),
            "require": copy.deepcopy(require or []),
            **copy.deepcopy(extra),
            "created_at": now,
            "updated_at": now,
        }
        self._groups[(account_id, group_id)] = group
        return copy.deepcopy(group)

    def group(self, account_id: str, group_id: str) -> dict[str, Any]:
        """A deep copy of the stored group (KeyError if there is none)."""
        return copy.deepcopy(self._groups[(account_id, group_id)])

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many recorded calls match the method and contain the path fragment."""
        return sum(
            1
            for c in self.calls
            if (method is None or c.method == method.upper())
            and (path_contains is None or path_contains in c.path)
        )

    # -- request pipeline ------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Record every request with its arrival time and status (0 when the simulator hung up on it)."""
        at = time.monotonic()
        body = await _read_body(request)
        response = await self._answer(request, handler)
        recorded = None if body is _NO_BODY else body
        if response is None:
            self.calls.append(Call(request.method, request.path_qs, recorded, 0, at))
            raise _HungUp()
        self.calls.append(Call(request.method, request.path_qs, recorded, response.status, at))
        return response

    async def _answer(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse | None:
        """A fault, an auth failure or the rate limit if one applies, else the handler's answer; None when hung."""
        fault = self._take_fault(request.method, request.path)
        if fault is not None:
            status, retry_after = fault
            return await self._fault_response(request, status, retry_after)
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        return self._over_budget(request) or await handler(request)

    async def _checked_body(self, request: web.Request, openapi_path: str) -> tuple[Any, web.Response | None]:
        """The body, and a 400 when it fails the requestBody schema of the operation (recorded too)."""
        body = await _read_body(request)  # aiohttp caches the bytes the middleware read
        if body is _NO_BODY:
            problems = ["request body is not valid JSON"]
        elif not isinstance(body, dict):
            problems = [f"request body must be a JSON object, not {type(body).__name__}"]
        else:
            problems = body_errors(self._validators, request.method, openapi_path, body)
        if not problems:
            return body, None
        self.invalid_requests.append(
            InvalidRequest(request.method, request.path, None if body is _NO_BODY else body, problems)
        )
        return body, failure(400, CODE_INVALID, "Invalid request body: " + "; ".join(problems))

    # -- handlers --------------------------------------------------------------------------------

    async def _list_groups(self, request: web.Request) -> web.Response:
        """`GET .../access/groups`: the account's groups, one page, with `result_info`."""
        account_id = request.match_info["account_id"]
        try:
            page = int(request.query.get("page", "1"))
            per_page = int(request.query.get("per_page", "25"))
        except ValueError:
            return failure(400, CODE_INVALID, "page and per_page must be integers")
        if page < 1 or not 1 <= per_page <= 1000:
            return failure(400, CODE_INVALID, "page must be >= 1 and per_page between 1 and 1000")
        groups = [g for (a, _), g in self._groups.items() if a == account_id]
        chunk = groups[(page - 1) * per_page : page * per_page]
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(chunk),
            "total_count": len(groups),
            "total_pages": max(1, math.ceil(len(groups) / per_page)),
        }
        return web.json_response(envelope(copy.deepcopy(chunk), result_info=info))

    async def _get_group(self, request: web.Request) -> web.Response:
        """`GET .../access/groups/{g}`: one group."""
        group = self._groups.get(self._key(request))
        if group is None:
            return self._group_not_found(request)
        return web.json_response(envelope(copy.deepcopy(group)))

    async def _put_group(self, request: web.Request) -> web.Response:
        """`PUT .../access/groups/{g}`: replace the group wholesale with a body the schema accepts."""
        key = self._key(request)
        old = self._groups.get(key)
        if old is None:
            return self._group_not_found(request)
        body, invalid = await self._checked_body(request, GROUP_PATH)
        if invalid is not None:
            return invalid
        new = {k: copy.deepcopy(v) for k, v in body.items() if k not in _READ_ONLY}
        for rules in ("include", "exclude", "require"):
            new.setdefault(rules, [])
        new = {"id": old["id"], **new, "created_at": old["created_at"], "updated_at": now_iso()}
        self._groups[key] = new
        return web.json_response(envelope(copy.deepcopy(new)))

    async def _revoke_user(self, request: web.Request) -> web.Response:
        """`POST .../access/organizations/revoke_user`: record the revocation; `true`."""
        body, invalid = await self._checked_body(request, REVOKE_PATH)
        if invalid is not None:
            return invalid
        self.revoked_users.append((request.match_info["account_id"], body["email"]))
        return web.json_response(envelope(True))

    async def _no_route(self, request: web.Request) -> web.Response:
        """Any other path: Cloudflare's 404 for an unknown route."""
        return failure(404, CODE_NO_ROUTE, "No route for that URI")

    @staticmethod
    def _key(request: web.Request) -> tuple[str, str]:
        """The (account, group) a request names."""
        return request.match_info["account_id"], request.match_info["group_id"]

    @staticmethod
    def _group_not_found(request: web.Request) -> web.Response:
        """Cloudflare's 404 for a group that does not exist."""
        path = request.path.removeprefix(API_PREFIX)
        return failure(
            404, CODE_NOT_FOUND, f"Could not route to {path}, perhaps your object identifier is invalid?"
        )


class _HungUp(web.HTTPException):
    """Ends a request whose connection the simulator already closed (nothing is sent)."""

    status_code = 499


async def _read_body(request: web.Request) -> Any:
    """The parsed JSON body; None when there is none; `_NO_BODY` when it is not JSON."""
    if not request.body_exists:
        return None
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _NO_BODY
