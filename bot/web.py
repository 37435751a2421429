"""The aiohttp application: POST /slack/events, GET /healthz, GET /metrics, and /api when it is on."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.api import add_api_routes
from bot.auth import AccessVerifier
from bot.credentials import CredentialHealth
from bot.metrics import Metrics
from bot.rejections import RejectionLimiter
from bot.scheduler import Scheduler
from bot.services.context import Deps
from bot.slack.http_events import SlackEvents
from bot.slack.ingress import Ingress
from bot.web_limits import Limits, limits_middleware
from bot.web_status import StatusPages

log = logging.getLogger(__name__)


def build_web_app(deps: Deps, ingress: Ingress, scheduler: Scheduler, signing_secret: str,
                  metrics: Metrics, *, api: AccessVerifier | None = None,
                  health: CredentialHealth | None = None, slack_over_http: bool = True,
                  limits: Limits | None = None) -> web.Application:
    """The HTTP application; Slack's requests go to `ingress` once verified (signature failures are answered 401
    and audited before bolt sees them).
    With `api` (a verifier for Cloudflare Access JWTs) `/api` is mounted too; `health` (what Slack and
    Cloudflare say of the bot's credentials) feeds /healthz and /metrics. With `slack_over_http=False`
    (Socket Mode) `/slack/events` answers every caller 401, signed or not. `limits` (a `bot.web_limits.Limits`)
    bounds bodies, their reading time, idle connections and concurrent requests."""
    health = health or CredentialHealth()
    limiter = RejectionLimiter()
    middleware, handler_args = limits_middleware(limits)
    app = web.Application(middlewares=[middleware], handler_args=handler_args)

    status = StatusPages(deps, scheduler, metrics, health)
    app.router.add_post("/slack/events", SlackEvents(deps, ingress, signing_secret, limiter, over_http=slack_over_http))
    app.router.add_get("/healthz", status.healthz)
    app.router.add_get("/metrics", status.metrics_view)
    limiters = [limiter]
    if api is not None:
        limiters.append(RejectionLimiter())
        add_api_routes(app, deps, api, limiters[-1])

    async def flush_rejections(app: web.Application) -> None:
        for each in limiters:
            await each.flush(deps)

    app.on_shutdown.append(flush_rejections)
    return app
