"""The /api endpoints: one small handler each, given the verified caller."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.api import parsing
from bot.api.caller import Caller
from bot.api.render import ApiFailure, refusal
from bot.domain.ids import ID_PATTERN, normalise_id
from bot.domain.incident import role_for
from bot.domain.model import AccessRequest, Grant, GrantState
from bot.domain.policy import is_member
from bot.domain.records import grant_record, request_record, role_record
from bot.domain.typed import clean
from bot.services import breakglass as breakglass_cases
from bot.services import queries
from bot.services import requests as request_cases
from bot.services.context import Deps

AUDIT_PAGE, AUDIT_PAGE_MAX = 100, 1000
GRANTS_PAGE, GRANTS_PAGE_MAX = 100, 1000
NOT_ACTIVE = tuple(s for s in GrantState if s is not GrantState.ACTIVE)


class Handlers:
    """The endpoints of /api over one set of use-case dependencies."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def refuse(self, caller: Caller, request: web.Request, code: str, message: str,
                     status: int = 403) -> ApiFailure:
        """Audit a refused call (its code and words) and return the failure to raise."""
        await request_cases.audit_refusal(self.deps, caller.identity.name, code, message,
                                          details={"source": "api", "path": request.path[:200]})
        return ApiFailure(status, code, message)

    async def roles(self, request: web.Request, caller: Caller) -> web.Response:
        """GET /api/roles: every role of the policy."""
        return web.json_response({"roles": [role_record(r) for r in self.deps.policy.roles.values()]})

    async def grants(self, request: web.Request, caller: Caller) -> web.Response:
        """GET /api/grants: a page of grants by email, role and whether active, oldest first; a person sees only
        their own. `limit` (default 100, at most 1,000) per page; `next_cursor`, passed back as `cursor`, gives
        the next page (null after the last), stable while grants are added."""
        q = {k: clean(v, multiline=False) for k, v in request.query.items()}
        email = q.get("email", "").strip().lower() or None
        active = q.get("active", "").lower()
        if active not in ("", "true", "false"):
            raise ApiFailure(400, "bad_request", "active is true or false")
        limit = parsing.whole_number(request, "limit", GRANTS_PAGE, 1, GRANTS_PAGE_MAX)
        after = parsing.after_cursor(request)
        if caller.identity.email and not caller.admin:
            if email and email != caller.identity.email:
                raise await self.refuse(caller, request, "forbidden", "you may see only your own grants")
            email = caller.identity.email
        states = {"true": (GrantState.ACTIVE,), "false": NOT_ACTIVE}.get(active)
        found = await queries.grants_page(self.deps, email=email, role=q.get("role") or None, states=states,
                                          after=after, limit=limit)
        more = len(found) > limit
        found = found[:limit]
        cursor = parsing.grants_cursor((found[-1].created_at, found[-1].id)) if more else None
        return web.json_response({"grants": [grant_record(g) for g in found], "next_cursor": cursor})

    async def one_request(self, request: web.Request, caller: Caller) -> web.Response:
        """GET /api/requests/{id}: one request, for its requester, its approvers, admins and service tokens."""
        ident = normalise_id(request.match_info["id"])
        if not ID_PATTERN.match(ident) or ident[0] != "r":
            raise ApiFailure(400, "bad_request", "a request ID looks like r-9QXK7MA2")
        req, made = await queries.request_and_grants(self.deps, ident)
        if req is None:
            raise ApiFailure(404, "not_found", f"there is no request {ident}")
        shown = request_json(req, made)
        if not await self.may_see(caller, req):
            raise await self.refuse(caller, request, "forbidden", "you may see only your own requests and the ones "
                                                                  "you decide")
        return web.json_response(shown)

    async def may_see(self, caller: Caller, req: AccessRequest) -> bool:
        """True when the caller is an admin, a service token, the requester or one of the role's approvers (or of
        the request's on-call approvers)."""
        if caller.admin or caller.identity.is_service or req.email.lower() == caller.identity.email:
            return True
        role = self.deps.policy.role(req.role)
        if role is None or caller.slack_user is None:
            return False
        role = role_for(role, req)  # once escalated, its escalate_to decide it too
        if role.oncall and any(a.user == caller.slack_user for a in await queries.oncall_approvers(self.deps, req.id)):
            return True
        groups = await self.deps.directory.user_groups_of(caller.slack_user, role.approver_groups)
        return is_member(caller.slack_user, role.approvers, groups)

    async def file_request(self, request: web.Request, caller: Caller) -> web.Response:
        """POST /api/requests: file a request as the caller's Slack user (with `"break_glass": true`, the role's
        break-glass: granted at once, announced and reviewed after); 201 with the request."""
        if caller.identity.is_service:
            raise await self.refuse(caller, request, "service_token", "a service token may read but not request")
        body = parsing.new_request(await request.read())
        duration = parsing.duration(clean(body.duration) if isinstance(body.duration, str) else body.duration)
        if caller.slack_user is None:
            raise await self.refuse(caller, request, "no_slack_user", f"no Slack member has the email "
                                    f"{caller.identity.email}; requests are approved in Slack, so one is needed")
        role_name = clean(body.role, multiline=False).strip().lower()
        if body.break_glass:
            out = await breakglass_cases.break_glass(self.deps, caller.slack_user, role_name, duration,
                                                     clean(body.reason), source="api")
        else:
            out = await request_cases.submit(self.deps, caller.slack_user, role_name, duration, clean(body.reason),
                                             source="api", start=clean(body.starts_at, multiline=False)
                                             if body.starts_at else None)
        if not out.ok:
            raise refusal(out)
        req, made = await queries.request_and_grants(self.deps, out.data["request_id"])
        assert req is not None
        return web.json_response(request_json(req, made), status=201)

    async def audit(self, request: web.Request, caller: Caller) -> web.Response:
        """GET /api/audit: a page of the audit log from `since_seq`, for admins."""
        if not caller.admin:
            raise await self.refuse(caller, request, "not_admin", "only the policy's admins may read the audit log")
        since = parsing.whole_number(request, "since_seq", 0, 0, None)
        limit = parsing.whole_number(request, "limit", AUDIT_PAGE, 1, AUDIT_PAGE_MAX)
        rows = await queries.audit_page(self.deps, since_seq=since, limit=limit)
        return web.json_response({"events": rows, "next_since_seq": rows[-1]["seq"] if rows else since})


def request_json(req: AccessRequest, made: list[Grant]) -> dict[str, Any]:
    """The request record; `grant_id` is the grant it made (or, for an extension, the grant it extends)."""
    shown = request_record(req)
    if not shown["grant_id"]:
        shown["grant_id"] = made[-1].id if made else None
    return shown
