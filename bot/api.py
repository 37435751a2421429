"""`/api` (spec §8): roles, grants, requests and the audit log for portals and agents, behind Cloudflare Access.

Every call carries a Cloudflare Access JWT (`Cf-Access-Jwt-Assertion`, else the `CF_Authorization`
cookie). A person is the token's `email`; a service token (`common_name`, no email) may read but not
request. People see their own grants and requests (approvers also the requests they decide); admins
(the policy's `admins` whose Slack profile email is the token's) see everything and read the audit.
Answers are JSON; an error is `{"error": code, "message": words}` with 400, 401, 403, 404, 422 or 503.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from bot.auth import AccessVerifier, AuthError, Identity, KeysUnavailable
from bot.domain.durations import DurationError, parse_duration
from bot.domain.errors import ExternalError
from bot.domain.ids import ID_PATTERN, normalise_id
from bot.domain.model import AccessRequest, Grant, GrantState
from bot.domain.policy import is_member
from bot.domain.records import grant_record, request_record, role_record
from bot.domain.typed import clean
from bot.rejections import RejectionLimiter, audit_rejection
from bot.services import queries
from bot.services import requests as request_cases
from bot.services.context import Deps
from bot.services.identity import profile_email

log = logging.getLogger(__name__)

TOKEN_HEADER = "Cf-Access-Jwt-Assertion"
TOKEN_COOKIE = "CF_Authorization"
AUDIT_PAGE, AUDIT_PAGE_MAX = 100, 1000
LOOKUP_TTL = 60.0  # seconds a Slack lookup (admins' emails, a person's user ID) is reused


class ApiFailure(Exception):
    """An answer other than success: HTTP status, error code and words for the caller."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class NewRequest(BaseModel):
    """The body of POST /api/requests."""

    model_config = ConfigDict(extra="forbid")
    role: StrictStr
    duration: StrictStr | StrictInt | None = None
    reason: StrictStr = ""


@dataclass(frozen=True)
class Caller:
    """A verified caller: the token's identity, their Slack user (people only) and whether they are an admin."""

    identity: Identity
    slack_user: str | None
    admin: bool


class SlackLookups:
    """Who a token's email is in Slack, cached for a minute: their user ID, and whether they are an admin."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._users: dict[str, tuple[float, str | None]] = {}
        self._admins: tuple[float, frozenset[str]] | None = None

    async def user_for(self, email: str) -> str | None:
        """The Slack user ID whose profile email is `email`, or None."""
        hit = self._users.get(email)
        if hit and time.monotonic() - hit[0] < LOOKUP_TTL:
            return hit[1]
        user = await self.deps.directory.find_by_email(email)
        self._users[email] = (time.monotonic(), user)
        return user

    async def admin_emails(self) -> frozenset[str]:
        """The Slack profile emails of the policy's admins (an admin Slack cannot describe has none)."""
        if self._admins and time.monotonic() - self._admins[0] < LOOKUP_TTL:
            return self._admins[1]
        emails = set()
        for admin in self.deps.policy.admins:
            profile = await self.deps.directory.user_profile(admin)
            email = profile_email(profile)
            if email and not profile.get("deleted"):
                emails.add(email.strip().lower())
        self._admins = (time.monotonic(), frozenset(emails))
        return self._admins[1]


def add_api_routes(app: web.Application, deps: Deps, verifier: AccessVerifier,
                   rejections: RejectionLimiter) -> None:
    """Mount /api on the web app; `rejections` limits how many 401s a minute are audited."""
    lookups = SlackLookups(deps)

    async def caller_of(request: web.Request) -> Caller:
        token = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE)
        try:
            if not token:
                raise AuthError(f"no Cloudflare Access token ({TOKEN_HEADER} header or {TOKEN_COOKIE} cookie)")
            identity = await verifier.verify(token)
        except AuthError as exc:
            await audit_rejection(deps, rejections, {"source": "api", "why": str(exc), "path": request.path[:200],
                                                     "remote": request.remote or ""})
            raise ApiFailure(401, "unauthenticated", str(exc)) from None
        except KeysUnavailable as exc:
            log.warning("api: %s", exc)
            raise ApiFailure(503, "keys_unavailable", "cannot verify tokens right now; try again") from None
        if identity.email is None:
            return Caller(identity, None, False)
        admin = identity.email in await lookups.admin_emails()
        return Caller(identity, await lookups.user_for(identity.email), admin)

    async def refuse(caller: Caller, request: web.Request, code: str, message: str, status: int = 403) -> ApiFailure:
        await request_cases.refuse(deps, caller.identity.name, code, message,
                                   details={"source": "api", "path": request.path[:200]})
        return ApiFailure(status, code, message)

    async def roles(request: web.Request, caller: Caller) -> web.Response:
        return web.json_response({"roles": [role_record(r) for r in deps.policy.roles.values()]})

    async def grants(request: web.Request, caller: Caller) -> web.Response:
        q = {k: clean(v, multiline=False) for k, v in request.query.items()}
        email = q.get("email", "").strip().lower() or None
        active = q.get("active", "").lower()
        if active not in ("", "true", "false"):
            raise ApiFailure(400, "bad_request", "active is true or false")
        if caller.identity.email and not caller.admin:
            if email and email != caller.identity.email:
                raise await refuse(caller, request, "forbidden", "you may see only your own grants")
            email = caller.identity.email
        found = await queries.grants_of(deps, email=email, role=q.get("role") or None,
                                        states=(GrantState.ACTIVE,) if active == "true" else None)
        if active == "false":
            found = [g for g in found if g.state is not GrantState.ACTIVE]
        return web.json_response({"grants": [grant_record(g) for g in found]})

    async def one_request(request: web.Request, caller: Caller) -> web.Response:
        ident = normalise_id(request.match_info["id"])
        if not ID_PATTERN.match(ident) or ident[0] != "r":
            raise ApiFailure(400, "bad_request", "a request ID looks like r-9QXK7MA2")
        req, made = await queries.request_and_grants(deps, ident)
        if req is None:
            raise ApiFailure(404, "not_found", f"there is no request {ident}")
        shown = _request_json(req, made)
        if not await may_see(caller, req):
            raise await refuse(caller, request, "forbidden", "you may see only your own requests and the ones "
                                                             "you decide")
        return web.json_response(shown)

    async def may_see(caller: Caller, req: AccessRequest) -> bool:
        if caller.admin or caller.identity.is_service or req.email.lower() == caller.identity.email:
            return True
        role = deps.policy.role(req.role)
        if role is None or caller.slack_user is None:
            return False
        groups = await deps.directory.user_groups_of(caller.slack_user, role.approver_groups)
        return is_member(caller.slack_user, role.approvers, groups)

    async def file_request(request: web.Request, caller: Caller) -> web.Response:
        if caller.identity.is_service:
            raise await refuse(caller, request, "service_token", "a service token may read but not request")
        try:
            body = NewRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            raise ApiFailure(400, "bad_request", f'expected {{"role", "duration", "reason"}}: {problems}') from None
        duration = _duration(clean(body.duration) if isinstance(body.duration, str) else body.duration)
        if caller.slack_user is None:
            raise await refuse(caller, request, "no_slack_user", f"no Slack member has the email "
                               f"{caller.identity.email}; requests are approved in Slack, so one is needed")
        out = await request_cases.submit(deps, caller.slack_user, clean(body.role, multiline=False).strip().lower(),
                                         duration, clean(body.reason), source="api")
        if not out.ok:
            raise ApiFailure(403 if out.code == "not_allowed" else 422, out.code, out.message)
        req, made = await queries.request_and_grants(deps, (out.data or {})["request_id"])
        assert req is not None
        return web.json_response(_request_json(req, made), status=201)

    async def audit(request: web.Request, caller: Caller) -> web.Response:
        if not caller.admin:
            raise await refuse(caller, request, "not_admin", "only the policy's admins may read the audit log")
        since, limit = _int(request, "since_seq", 0, 0, None), _int(request, "limit", AUDIT_PAGE, 1, AUDIT_PAGE_MAX)
        rows = await queries.audit_page(deps, since_seq=since, limit=limit)
        return web.json_response({"events": rows, "next_since_seq": rows[-1]["seq"] if rows else since})

    def endpoint(handler: Any) -> Any:
        async def run(request: web.Request) -> web.Response:
            try:
                return await handler(request, await caller_of(request))
            except ApiFailure as failure:
                return web.json_response({"error": failure.code, "message": failure.message}, status=failure.status)
            except ExternalError as exc:
                log.warning("api: %s", exc)
                return web.json_response({"error": "unavailable", "message": "Slack could not be asked; try again"},
                                         status=503)
        return run

    app.router.add_get("/api/roles", endpoint(roles))
    app.router.add_get("/api/grants", endpoint(grants))
    app.router.add_get("/api/requests/{id}", endpoint(one_request))
    app.router.add_post("/api/requests", endpoint(file_request))
    app.router.add_get("/api/audit", endpoint(audit))


def _request_json(req: AccessRequest, made: list[Grant]) -> dict[str, Any]:
    """The request record; `grant_id` is the grant it made (or, for an extension, the grant it extends)."""
    shown = request_record(req)
    if not shown["grant_id"]:
        shown["grant_id"] = made[-1].id if made else None
    return shown


def _duration(value: str | int | None) -> timedelta | None:
    """A duration as written in the policy (`2h`, `1h30m`) or in seconds; None means the role's default."""
    if value is None:
        return None
    if isinstance(value, int):
        if not 0 < value <= 10 * 366 * 86400:
            raise ApiFailure(400, "bad_request", "duration: seconds must be positive and under ten years")
        return timedelta(seconds=value)
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ApiFailure(400, "bad_request", f"duration: {exc}") from None


def _int(request: web.Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12 or int(raw) < low or (high and int(raw) > high):
        top = f" to {high}" if high else " or more"
        raise ApiFailure(400, "bad_request", f"{name} is a whole number, {low}{top}")
    return int(raw)

