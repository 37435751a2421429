"""A PagerDuty REST API v2 simulator on 127.0.0.1: `GET /oncalls`, for tests and `accessbot demo`.

It answers as PagerDuty does (the shapes of its OpenAPI schema and its examples): offset pagination (`limit`,
default 25, at most 100; `offset`; `more`; `total` null unless `total=true`), `include[]=users` expanding each
entry's `user` reference into the User object (with its `email`), only the shifts of now (so `earliest=true` and
`since`/`until` change nothing), 401 for a missing or wrong `Authorization: Token token=…`, 400 for a parameter
the endpoint does not take, and faults on demand (`fail_next`: 429 with Retry-After, 500, 401; `delay`). Every
exchange is kept in `traffic` so tests can check it against PagerDuty's own schema.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

PD_TOKEN = "pd-demo-token"
ONCALL_PARAMS = {"time_zone", "limit", "offset", "total", "include[]", "user_ids[]", "escalation_policy_ids[]",
                 "schedule_ids[]", "since", "until", "earliest"}
WEB = "https://accessbot-sim.pagerduty.com"
API = "https://api.pagerduty.com"


@dataclass
class Exchange:
    """One request the simulator answered, and its answer."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    status: int
    body: Any


@dataclass
class _Fault:
    status: int
    retry_after: str | None = None


@dataclass
class PagerDutySimulator:
    """PagerDuty's `/oncalls`, with users, schedules and who is on call in each, and faults on demand."""

    token: str = PD_TOKEN
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    schedules: dict[str, list[str]] = field(default_factory=dict)  # schedule ID -> user IDs on call now, in order
    traffic: list[Exchange] = field(default_factory=list)
    delay: float = 0.0
    base_url: str | None = None
    _faults: list[_Fault] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    # -- state -------------------------------------------------------------------------------------
    def add_user(self, user_id: str, email: str, name: str) -> None:
        """A PagerDuty user (IDs look like `PXPGF42`)."""
        self.users[user_id] = {"email": email, "name": name}

    def set_on_call(self, schedule_id: str, user_ids: list[str]) -> None:
        """Who is on call now in the schedule (an empty list: nobody)."""
        self.schedules[schedule_id] = list(user_ids)

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next `times` requests with `status` (PagerDuty's error body; Retry-After when given)."""
        self._faults.extend(_Fault(status, retry_after) for _ in range(times))

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (`port`, default a free one); the base URL, e.g. ``http://127.0.0.1:PORT``."""
        if self._runner is None:
            app = web.Application()
            app.router.add_get("/oncalls", self._oncalls)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self._runner = runner
            host, bound = runner.addresses[0][:2]
            self.base_url = f"http://{host}:{bound}"
        assert self.base_url is not None
        return self.base_url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- the endpoint ------------------------------------------------------------------------------
    async def _oncalls(self, request: web.Request) -> web.Response:
        """GET /oncalls."""
        if self.delay:
            await asyncio.sleep(self.delay)
        query = list(request.query.items())
        status, body, headers = self._answer(request, query)
        self.traffic.append(Exchange(request.method, request.path, query, dict(request.headers), status, body))
        return web.json_response(body, status=status, headers=headers)

    def _answer(self, request: web.Request, query: list[tuple[str, str]]) -> tuple[int, Any, dict[str, str]]:
        """The status, body and extra headers of the answer to one GET /oncalls."""
        if self._faults:
            fault = self._faults.pop(0)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return fault.status, _error(fault.status), headers
        if request.headers.get("Authorization") != f"Token token={self.token}":
            return 401, _error(401), {}
        unknown = sorted({k for k, _ in query} - ONCALL_PARAMS)
        try:
            limit = min(100, max(1, int(request.query.get("limit", "25"))))
            offset = max(0, int(request.query.get("offset", "0")))
        except ValueError:
            unknown.append("limit/offset must be integers")
        if unknown:
            return 400, _error(400, [f"not a parameter of GET /oncalls: {u}" for u in unknown]), {}
        entries = self._entries([v for k, v in query if k == "schedule_ids[]"],
                                "users" in [v for k, v in query if k == "include[]"])
        page = entries[offset:offset + limit]
        total = len(entries) if request.query.get("total") == "true" else None
        return 200, {"oncalls": page, "limit": limit, "offset": offset, "more": offset + limit < len(entries),
                     "total": total}, {}

    def _entries(self, schedule_ids: list[str], include_users: bool) -> list[dict[str, Any]]:
        """Every on-call entry now of the schedules asked for (all schedules when none are named)."""
        now = datetime.now(UTC).replace(microsecond=0)
        out = []
        for sid in schedule_ids or sorted(self.schedules):
            for level, uid in enumerate(self.schedules.get(sid, []), start=1):
                user = self.users.get(uid, {"email": f"{uid.lower()}@example.com", "name": uid})
                out.append({
                    "escalation_policy": _ref("escalation_policy", f"PE{sid[-5:]}", f"{sid} escalation"),
                    "escalation_level": level,
                    "schedule": _ref("schedule", sid, f"{sid} rotation"),
                    "user": _user(uid, user) if include_users else _ref("user", uid, user["name"]),
                    "start": (now - timedelta(hours=1)).isoformat(),
                    "end": (now + timedelta(hours=7)).isoformat(),
                })
        return out


def _ref(kind: str, ident: str, summary: str) -> dict[str, Any]:
    """A PagerDuty `*_reference` object."""
    plural = {"escalation_policy": "escalation_policies"}.get(kind, kind + "s")
    return {"id": ident, "type": f"{kind}_reference", "summary": summary,
            "self": f"{API}/{plural}/{ident}", "html_url": f"{WEB}/{plural}/{ident}"}


def _user(uid: str, user: dict[str, str]) -> dict[str, Any]:
    """The User object `include[]=users` puts in place of the reference."""
    return {"id": uid, "type": "user", "summary": user["name"], "name": user["name"], "email": user["email"],
            "time_zone": "Etc/UTC", "color": "green", "role": "user", "job_title": "", "description": None,
            "invitation_sent": False, "self": f"{API}/users/{uid}", "html_url": f"{WEB}/users/{uid}",
            "avatar_url": "https://pd-static-assets.pagerduty.com/users/blank-avatar.png"}


_MESSAGES = {400: (2001, "Invalid Input Provided"), 401: (2006, "Authentication failed"),
             403: (2010, "Access Denied"), 429: (2020, "Rate Limit Exceeded"), 500: (2000, "Internal Error")}


def _error(status: int, errors: list[str] | None = None) -> dict[str, Any]:
    """PagerDuty's error body: `{"error": {"code", "message", "errors"?}}`."""
    code, message = _MESSAGES.get(status, (2000, "Error"))
    body: dict[str, Any] = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    return {"error": body}
