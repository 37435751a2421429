"""The aiohttp application: POST /slack/events, GET /healthz, GET /metrics, and /api when it is on."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select, text

from bot.api import add_api_routes
from bot.auth import AccessVerifier
from bot.credentials import UPSTREAMS, CredentialHealth
from bot.metrics import Metrics
from bot.rejections import RejectionLimiter, audit_rejection
from bot.scheduler import Scheduler
from bot.services.context import Deps
from bot.slack.request_log import dispatch, kind_of, log_request
from bot.storage import tables as t

log = logging.getLogger(__name__)

ACCEPTING = web.AppKey("accepting", bool)          # False once shutdown has begun
IN_FLIGHT = web.AppKey("in_flight", set)            # listener tasks still running after their ack


def event_delivery_key(data: object) -> str | None:
    """The key of an Events API delivery (retries carry the same event_id), else None; HTTP and Socket Mode."""
    if isinstance(data, dict) and data.get("type") == "event_callback" and data.get("event_id"):
        return "event:" + str(data["event_id"])
    return None


def _delivery_key(body: str, content_type: str) -> str | None:
    """The delivery key of an HTTP body (see `event_delivery_key`)."""
    if "json" not in content_type:
        return None
    try:
        return event_delivery_key(json.loads(body))
    except ValueError:
        return None


def _kind(body: str, content_type: str) -> str:
    """The kind of a request bolt will not see (for its log line)."""
    try:
        return kind_of(parse_body(body, content_type))
    except (ValueError, KeyError, TypeError):
        return "unknown"


def _who(body: str) -> str:
    """A best-effort guess at who sent a rejected request, for the audit (never trusted)."""
    try:
        form = parse_qs(body)
        if "user_id" in form:
            return form["user_id"][0][:32]
        if "payload" in form:
            return str(json.loads(form["payload"][0]).get("user", {}).get("id", ""))[:32]
    except (ValueError, AttributeError):
        pass
    return ""


def build_web_app(deps: Deps, bolt: AsyncApp, scheduler: Scheduler, signing_secret: str,
                  metrics: Metrics, *, early_ack: bool = True, api: AccessVerifier | None = None,
                  health: CredentialHealth | None = None) -> web.Application:
    """The HTTP application; signature failures are answered 401 and audited before bolt sees them.
    With `api` (a verifier for Cloudflare Access JWTs) `/api` is mounted too; `health` (what Slack and
    Cloudflare say of the bot's credentials) feeds /healthz and /metrics."""
    health = health or CredentialHealth()
    verifier = SignatureVerifier(signing_secret)
    limiter = RejectionLimiter()
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[ACCEPTING] = True
    in_flight: set[asyncio.Task] = set()
    app[IN_FLIGHT] = in_flight

    async def slack_events(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        if not app[ACCEPTING]:
            metrics.slack_requests.labels("shutting_down").inc()
            log_request("http", "unknown", None, "shutting_down", started)
            return web.json_response({"error": "shutting down"}, status=503)
        body = await request.text()
        if not verifier.is_valid_request(body, dict(request.headers)):
            metrics.slack_requests.labels("rejected").inc()
            ts = request.headers.get("X-Slack-Request-Timestamp", "")
            why = "bad signature" if _fresh(ts) else "stale or missing timestamp"
            await audit_rejection(deps, limiter, {"source": "slack", "why": why, "claimed_user": _who(body),
                                                  "remote": request.remote or ""})
            log_request("http", _kind(body, request.headers.get("Content-Type", "")), None, "rejected", started,
                        claimed_user=_who(body), why=why)
            return web.json_response({"error": "invalid request"}, status=401)
        key = _delivery_key(body, request.headers.get("Content-Type", ""))
        if key is not None:
            async with deps.store.tx() as tx:
                first = await tx.first_delivery(key)
            if not first:
                metrics.slack_requests.labels("duplicate").inc()
                log_request("http", "event", None, "duplicate", started, delivery=key)
                return web.Response(status=200, text="")
        bolt_req = await to_bolt_request(request)
        if early_ack and _ack_at_once(body, request.headers.get("Content-Type", "")):
            # Answer Slack now (a couple of ms); the listener runs after, tracked for graceful shutdown.
            task = asyncio.create_task(dispatch(bolt, bolt_req, started, "http"))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            metrics.slack_requests.labels("200").inc()
            metrics.ack_seconds.observe(time.perf_counter() - started)
            return web.Response(status=200, text="")
        resp = await to_aiohttp_response(await dispatch(bolt, bolt_req, started, "http"))
        metrics.slack_requests.labels(str(resp.status)).inc()
        metrics.ack_seconds.observe(time.perf_counter() - started)
        return resp

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

    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    if api is not None:
        add_api_routes(app, deps, api, RejectionLimiter())
    return app


def _ack_at_once(body: str, content_type: str) -> bool:
    """True for commands, block actions and events: their ack is an empty 200 that needs no listener."""
    if "json" in content_type:
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return isinstance(data, dict) and data.get("type") == "event_callback"
    if "form" not in content_type:
        return False
    form = parse_qs(body)
    if "command" in form:
        return True
    try:
        payload = json.loads(form.get("payload", ["{}"])[0])
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("type") == "block_actions"


async def drain_in_flight(app: web.Application, timeout: float = 20.0) -> None:
    """Wait for listeners still working after their ack (graceful shutdown)."""
    tasks = list(app.get(IN_FLIGHT, ()))
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


def _fresh(ts: str) -> bool:
    """True when the timestamp is a number within Slack's 5-minute window."""
    try:
        return abs(time.time() - int(ts)) <= 300
    except ValueError:
        return False
