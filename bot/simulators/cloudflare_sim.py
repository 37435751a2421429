"""A fake Cloudflare API (Access groups, revoke_user) with real state, for tests and `accessbot demo`.

`CloudflareSimulator` is a small aiohttp server on 127.0.0.1 (a free port) that behaves like the
parts of the Cloudflare v4 API the bot uses:

- ``GET  /client/v4/accounts/{a}/access/groups``                 list, with ``result_info`` pagination
- ``GET  /client/v4/accounts/{a}/access/groups/{g}``             one group
- ``PUT  /client/v4/accounts/{a}/access/groups/{g}``             replace the group wholesale
- ``POST /client/v4/accounts/{a}/access/organizations/revoke_user``  ``{"email": ...}`` → ``true``

Every answer is a Cloudflare envelope ``{success, errors, messages, result}``. Every request needs
``Authorization: Bearer <token>`` (401/403 with code 10000 otherwise), and every PUT/POST body is
validated against the requestBody schema of Cloudflare's own OpenAPI document
(``cloudflare_openapi_subset.json``, a verbatim subset of github.com/cloudflare/api-schemas); a body
that does not validate gets a 400 and is recorded in ``invalid_requests``. So a test passes only if
the bot sends what the real API would accept.

Tests look at the state (``group()``, ``revoked_users``), at the traffic (``calls``, ``count()``) and
inject trouble: ``fail_next()`` for the next n requests, ``set_fault_rate()`` for random 500/429/
timeouts (seeded), and Cloudflare's rate limit (``rate_limit`` requests per ``rate_window`` seconds
per token, 1200 per 300 s as in production; lower it in tests).

    async with CloudflareSimulator() as sim:
        group = sim.add_group("acc1", name="Grafana users")
        client = CloudflareClient(sim.base_url, sim.token)
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import json
import math
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).with_name("cloudflare_openapi_subset.json")
API_PREFIX = "/client/v4"

# Cloudflare-style error codes the simulator answers with.
CODE_AUTH = 10000  # "Authentication error"
CODE_NO_ROUTE = 7000  # "No route for that URI"
CODE_NOT_FOUND = 7003  # "Could not route to ..., perhaps your object identifier is invalid?"
CODE_INVALID = 12130  # Access: "access.api.error.invalid_request"
CODE_RATE_LIMITED = 971  # "Please wait and consider throttling your request speed"
CODE_INTERNAL = 10001  # a server-side failure

_GROUP_PATH = "/accounts/{account_id}/access/groups/{group_id}"
_GROUPS_PATH = "/accounts/{account_id}/access/groups"
_REVOKE_PATH = "/accounts/{account_id}/access/organizations/revoke_user"
_READ_ONLY = ("id", "created_at", "updated_at")
_NO_BODY = object()


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


@dataclass
class _Fault:
    remaining: int
    status: int
    retry_after: float | None
    method: str | None
    path_contains: str | None = None


def envelope(result: Any, **extra: Any) -> dict[str, Any]:
    """A successful Cloudflare envelope."""
    return {"success": True, "errors": [], "messages": [], "result": result, **extra}


def failure(status: int, code: int, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    """A failed Cloudflare envelope as a response."""
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    return web.json_response(body, status=status, headers=headers)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _retry_after_header(seconds: float | None) -> dict[str, str]:
    return {} if seconds is None else {"Retry-After": f"{seconds:g}"}


class CloudflareSimulator:
    """An in-process Cloudflare API with state, schema validation, faults and rate limiting."""

    def __init__(
        self, token: str = "cf-test-token", *, schema_path: Path | None = None, seed: int = 0
    ) -> None:
        self.token = token
        self.base_url: str | None = None
        self.calls: list[Call] = []
        self.revoked_users: list[tuple[str, str]] = []
        self.invalid_requests: list[InvalidRequest] = []
        self.hang_seconds = 30.0
        self.rate_limit = 1200
        self.rate_window = 300.0
        self.fault_rate = 0.0
        self.fault_kinds: tuple[str, ...] = ("500", "429", "timeout")
        self.fault_retry_after: float | None = 1.0
        self._groups: dict[tuple[str, str], dict[str, Any]] = {}
        self._faults: list[_Fault] = []
        self._rng = random.Random(seed)
        self._id_rng = random.Random(seed)
        self._hits: dict[str, deque[float]] = {}
        self._validators = _request_validators(json.loads((schema_path or SCHEMA_PATH).read_text()))
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
        app.router.add_get(prefix + _GROUPS_PATH, self._list_groups)
        app.router.add_get(prefix + _GROUP_PATH, self._get_group)
        app.router.add_put(prefix + _GROUP_PATH, self._put_group)
        app.router.add_post(prefix + _REVOKE_PATH, self._revoke_user)
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
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
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
        now = _now_iso()
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

    # -- faults ----------------------------------------------------------------------------------

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
            _Fault(n, status, retry_after, method.upper() if method else None, path_contains)
        )

    def set_fault_rate(
        self, rate: float, kinds: Iterable[str] = ("500", "429", "timeout"), retry_after: float | None = 1.0
    ) -> None:
        """Fail a share `rate` of requests at random (seeded): kinds are HTTP statuses or "timeout"."""
        self.fault_rate = rate
        self.fault_kinds = tuple(kinds)
        self.fault_retry_after = retry_after

    # -- request pipeline ------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
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
        fault = self._take_fault(request.method, request.path)
        if fault is not None:
            status, retry_after = fault
            return await self._fault_response(request, status, retry_after)
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        wait = self._rate_limited(self.token)
        if wait is not None:
            return failure(
                429,
                CODE_RATE_LIMITED,
                "Please wait and consider throttling your request speed",
                headers=_retry_after_header(wait),
            )
        return await handler(request)

    def _take_fault(self, method: str, path: str = "") -> tuple[int, float | None] | None:
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
                headers=_retry_after_header(retry_after),
            )
        if status in (401, 403):
            return failure(status, CODE_AUTH, "Authentication error")
        if status == 404:
            return failure(404, CODE_NOT_FOUND, f"Could not route to {request.path}")
        if status >= 500:
            return failure(status, CODE_INTERNAL, f"Internal server error (simulated HTTP {status})")
        return failure(status, CODE_INVALID, f"Simulated failure (HTTP {status})")

    def _check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return failure(401, CODE_AUTH, "Authentication error")
        if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return failure(403, CODE_AUTH, "Authentication error")
        return None

    def _rate_limited(self, token: str) -> float | None:
        """Seconds until a slot frees up when over the limit, else None (and the request counts)."""
        now = time.monotonic()
        hits = self._hits.setdefault(token, deque())
        while hits and hits[0] <= now - self.rate_window:
            hits.popleft()
        if len(hits) >= self.rate_limit:
            return float(max(1, math.ceil(hits[0] + self.rate_window - now)))
        hits.append(now)
        return None

    async def _checked_body(self, request: web.Request, openapi_path: str) -> tuple[Any, web.Response | None]:
        """The body, and a 400 when it fails the requestBody schema of the operation (recorded too)."""
        body = await _read_body(request)  # aiohttp caches the bytes the middleware read
        if body is _NO_BODY:
            problems = ["request body is not valid JSON"]
        elif not isinstance(body, dict):
            problems = [f"request body must be a JSON object, not {type(body).__name__}"]
        else:
            validator = self._validators[(request.method.lower(), openapi_path)]
            problems = [_describe(e) for e in sorted(validator.iter_errors(body), key=lambda e: list(e.path))]
        if not problems:
            return body, None
        self.invalid_requests.append(
            InvalidRequest(request.method, request.path, None if body is _NO_BODY else body, problems)
        )
        return body, failure(400, CODE_INVALID, "Invalid request body: " + "; ".join(problems))

    # -- handlers --------------------------------------------------------------------------------

    async def _list_groups(self, request: web.Request) -> web.Response:
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
        group = self._groups.get(self._key(request))
        if group is None:
            return self._group_not_found(request)
        return web.json_response(envelope(copy.deepcopy(group)))

    async def _put_group(self, request: web.Request) -> web.Response:
        key = self._key(request)
        old = self._groups.get(key)
        if old is None:
            return self._group_not_found(request)
        body, invalid = await self._checked_body(request, _GROUP_PATH)
        if invalid is not None:
            return invalid
        new = {k: copy.deepcopy(v) for k, v in body.items() if k not in _READ_ONLY}
        for rules in ("include", "exclude", "require"):
            new.setdefault(rules, [])
        new = {"id": old["id"], **new, "created_at": old["created_at"], "updated_at": _now_iso()}
        self._groups[key] = new
        return web.json_response(envelope(copy.deepcopy(new)))

    async def _revoke_user(self, request: web.Request) -> web.Response:
        body, invalid = await self._checked_body(request, _REVOKE_PATH)
        if invalid is not None:
            return invalid
        self.revoked_users.append((request.match_info["account_id"], body["email"]))
        return web.json_response(envelope(True))

    async def _no_route(self, request: web.Request) -> web.Response:
        return failure(404, CODE_NO_ROUTE, "No route for that URI")

    @staticmethod
    def _key(request: web.Request) -> tuple[str, str]:
        return request.match_info["account_id"], request.match_info["group_id"]

    @staticmethod
    def _group_not_found(request: web.Request) -> web.Response:
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


def _request_validators(document: dict[str, Any]) -> dict[tuple[str, str], Draft4Validator]:
    """A validator per (method, path) with a JSON requestBody; `#/components/...` refs resolve in it."""
    validators = {}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            content = (
                (operation.get("requestBody") or {}).get("content", {}) if isinstance(operation, dict) else {}
            )
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                continue
            # OpenAPI 3.0 schemas are (nearly) JSON Schema draft 4; embedding `components` makes the
            # document's own `#/components/schemas/...` references resolve against it.
            root = {"allOf": [schema], "components": document.get("components", {})}
            validators[(method, path)] = Draft4Validator(root, format_checker=Draft4Validator.FORMAT_CHECKER)
    return validators


def _describe(error: ValidationError) -> str:
    """One readable line: where in the body, and what is wrong (for a rule: what is wrong with it)."""
    message = error.message
    if error.validator == "oneOf" and error.context:
        # A rule that matches no rule kind. If it names a kind but gets its inside wrong (e.g.
        # {"email": "x"}), the error from inside that kind says most; otherwise list the kinds.
        inner = sorted((e for e in error.context if e.relative_path), key=lambda e: list(e.relative_path))
        if inner:
            error = inner[0]
            message = error.message
        else:
            kinds = [
                e.validator_value[0] for e in error.context if e.validator == "required" and e.validator_value
            ]
            message = f"{error.instance!r} is not a rule Cloudflare knows (one of: {', '.join(kinds)})"
    elif error.validator == "oneOf":
        message = f"{error.instance!r} is more than one kind of rule at once"
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {message}"
