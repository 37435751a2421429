"""Mounting /api on the web app: each endpoint runs with its verified caller, and failures become JSON."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.api.caller import Caller, Callers
from bot.api.handlers import Handlers
from bot.api.render import ApiFailure, failure_json
from bot.auth import AccessVerifier
from bot.domain.errors import ExternalError
from bot.rejections import RejectionLimiter
from bot.services.context import Deps

log = logging.getLogger("bot.api")

Handler = Callable[[web.Request, Caller], Awaitable[web.Response]]


def endpoint(callers: Callers, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`handler` behind the token check: an ApiFailure is its JSON answer, a Slack failure a 503."""

    async def run(request: web.Request) -> web.Response:
        try:
            return await handler(request, await callers.of(request))
        except ApiFailure as failure:
            return failure_json(failure)
        except ExternalError as exc:
            log.warning("api: %s", exc)
            return web.json_response({"error": "unavailable", "message": "Slack could not be asked; try again"},
                                     status=503)

    return run


def add_api_routes(app: web.Application, deps: Deps, verifier: AccessVerifier,
                   rejections: RejectionLimiter) -> None:
    """Mount /api on the web app; `rejections` limits how many 401s a minute are audited."""
    callers, handlers = Callers(deps, verifier, rejections), Handlers(deps)
    app.router.add_get("/api/roles", endpoint(callers, handlers.roles))
    app.router.add_get("/api/grants", endpoint(callers, handlers.grants))
    app.router.add_get("/api/requests/{id}", endpoint(callers, handlers.one_request))
    app.router.add_post("/api/requests", endpoint(callers, handlers.file_request))
    app.router.add_get("/api/audit", endpoint(callers, handlers.audit))
