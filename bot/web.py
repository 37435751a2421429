"""The aiohttp application: POST /slack/events, GET /healthz, GET /metrics, and /api when it is on."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import func, select, text

from bot.api import add_api_routes
from bot.auth import AccessVerifier
from bot.credentials import UPSTREAMS, CredentialHealth
from bot.metrics import Metrics
from bot.rejections import RejectionLimiter
from bot.scheduler import Scheduler
from bot.services.context import Deps
from bot.slack.http_events import SlackEvents
from bot.slack.ingress import Ingress
from bot.storage import tables as t
from bot.web_limits import Limits, limits_middleware

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

    async def healthz(request: web.Request) -> web.Response:
        try:
            async with deps.store.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
            return web.json_response({"ok": False, "error": f"database: {type(exc).__name__}"}, status=503)
        if not scheduler.started:
            return web.json_response({"ok": False, "error": "scheduler not running"}, status=503)
        health.recheck()
        rejected = health.problems()
        if rejected:
            return web.json_response({"ok": False, "error": "credentials rejected: " + ", ".join(sorted(rejected)),
                                      "credentials": rejected}, status=503)
        return web.json_response({"ok": True})

    async def metrics_view(request: web.Request) -> web.Response:
        async with deps.store.engine.connect() as conn:
            metrics.set_grant_counts(dict((await conn.execute(
                select(t.grants.c.state, func.count()).group_by(t.grants.c.state))).all()))
            metrics.set_effect_counts(dict((await conn.execute(
                select(t.effects.c.state, func.count()).group_by(t.effects.c.state))).all()))
            metrics.retrying.clear()
            for kind, n in (await conn.execute(
                    select(t.effects.c.kind, func.count()).where(t.effects.c.state == "pending",
                                                                 t.effects.c.attempts > 0)
                    .group_by(t.effects.c.kind))).all():
                metrics.retrying.labels(kind).set(n)
            oldest = (await conn.execute(select(t.grants.c.expires_at).where(
                t.grants.c.state.in_(["active", "revoking"]), t.grants.c.expires_at <= deps.clock.now())
                .order_by(t.grants.c.expires_at).limit(1))).scalar()
            metrics.overdue.set((deps.clock.now() - oldest).total_seconds() if oldest else 0)
        for upstream in UPSTREAMS:
            metrics.credentials_ok.labels(upstream).set(1 if health.ok(upstream) else 0)
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    app.router.add_post("/slack/events", SlackEvents(deps, ingress, signing_secret, limiter, over_http=slack_over_http))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    limiters = [limiter]
    if api is not None:
        limiters.append(RejectionLimiter())
        add_api_routes(app, deps, api, limiters[-1])

    async def flush_rejections(app: web.Application) -> None:
        for each in limiters:
            await each.flush(deps)

    app.on_shutdown.append(flush_rejections)
    return app
