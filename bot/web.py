"""The aiohttp application: POST /slack/events, GET /healthz, GET /metrics, and /api when it is on."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from sqlalchemy import func, select, text

from bot.api import add_api_routes
from bot.auth import AccessVerifier
from bot.credentials import UPSTREAMS, CredentialHealth
from bot.metrics import Metrics
from bot.rejections import RejectionLimiter, audit_rejection
from bot.scheduler import Scheduler
from bot.services import conversations
from bot.services.context import Deps
from bot.slack.app import background_tasks
from bot.slack.inbound import BodyError, ParsedBoltRequest, decode, parse_slack_body
from bot.slack.request_log import dispatch, kind_of, log_request
from bot.storage import tables as t
from bot.web_limits import Limits, limits_middleware

log = logging.getLogger(__name__)

ACCEPTING = web.AppKey("accepting", bool)          # False once shutdown has begun
IN_FLIGHT = web.AppKey("in_flight", set)            # listener tasks still running after their ack


def event_delivery_key(data: object) -> str | None:
    """The key of an Events API delivery (retries carry the same event_id), else None; HTTP and Socket Mode."""
    if isinstance(data, dict) and data.get("type") == "event_callback" and data.get("event_id"):
        return "event:" + str(data["event_id"])
    return None


def replay_key(signature: str) -> str:
    """The delivery key of a signed request that is not an event: Slack never sends the same signed slash
    command or click twice (the signature covers the timestamp and the body), so a repeat is a replay."""
    return "signed:" + hashlib.sha256(signature.encode("utf-8", "replace")).hexdigest()


def _kind(raw: bytes, content_type: str) -> str:
    """The kind of a request bolt will not see (for its log line)."""
    try:
        return kind_of(parse_slack_body(decode(raw), content_type))
    except (ValueError, KeyError, TypeError):
        return "unknown"


def _who(raw: bytes) -> str:
    """A best-effort guess at who sent a rejected request, for the audit (never trusted)."""
    try:
        form = parse_qs(raw.decode("utf-8", "replace"))
        if "user_id" in form:
            return form["user_id"][0][:32]
        if "payload" in form:
            return str(json.loads(form["payload"][0]).get("user", {}).get("id", ""))[:32]
    except (ValueError, AttributeError):
        pass
    return ""


def build_web_app(deps: Deps, bolt: AsyncApp, scheduler: Scheduler, signing_secret: str,
                  metrics: Metrics, *, early_ack: bool = True, api: AccessVerifier | None = None,
                  health: CredentialHealth | None = None, slack_over_http: bool = True,
                  limits: Limits | None = None) -> web.Application:
    """The HTTP application; signature failures are answered 401 and audited before bolt sees them.
    With `api` (a verifier for Cloudflare Access JWTs) `/api` is mounted too; `health` (what Slack and
    Cloudflare say of the bot's credentials) feeds /healthz and /metrics. With `slack_over_http=False`
    (Socket Mode) `/slack/events` answers every caller 401, signed or not. `limits` (a `bot.web_limits.Limits`)
    bounds bodies, their reading time, idle connections and concurrent requests."""
    health = health or CredentialHealth()
    secret = signing_secret.encode()
    limiter = RejectionLimiter()
    middleware, handler_args = limits_middleware(limits)
    app = web.Application(middlewares=[middleware], handler_args=handler_args)
    app[ACCEPTING] = True
    in_flight = background_tasks(bolt)  # the listeners' own after-ack work is tracked in the same set
    app[IN_FLIGHT] = in_flight

    async def refuse(request: web.Request, raw: bytes, started: float, why: str, status: int,
                     error: str) -> web.Response:
        """Answer a request bolt will not see, audited as auth.rejected and logged with its kind."""
        metrics.slack_requests.labels("rejected").inc()
        await audit_rejection(deps, limiter, {"source": "slack", "why": why, "claimed_user": _who(raw),
                                              "remote": request.remote or ""})
        log_request("http", _kind(raw, request.headers.get("Content-Type", "")), None, "rejected", started,
                    claimed_user=_who(raw), why=why)
        return web.json_response({"error": error}, status=status)

    async def slack_events(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        if not app[ACCEPTING]:
            metrics.slack_requests.labels("shutting_down").inc()
            log_request("http", "unknown", None, "shutting_down", started)
            return web.json_response({"error": "shutting down"}, status=503)
        raw = await request.read()
        if not slack_over_http:
            return await refuse(request, raw, started, "Socket Mode is on: Slack requests do not come over HTTP",
                                401,
                                "invalid request")
        if not signed(secret, raw, request.headers.get("X-Slack-Request-Timestamp", ""),
                      request.headers.get("X-Slack-Signature", "")):
            ts = request.headers.get("X-Slack-Request-Timestamp", "")
            why = "bad signature" if _fresh(ts) else "stale or missing timestamp"
            return await refuse(request, raw, started, why, 401, "invalid request")
        content_type = request.headers.get("Content-Type", "")
        try:
            body = decode(raw)
            data = parse_slack_body(body, content_type)
        except BodyError as exc:
            return await refuse(request, raw, started, f"unreadable body: {exc}", 400, "bad request")
        # An event's retries share its event_id (dropped quietly); anything else Slack signs only once, so the
        # same signature again is a replay within the 5-minute window (refused, audited).
        event_key = event_delivery_key(data)
        first = await conversations.first_delivery(
            deps, event_key or replay_key(request.headers.get("X-Slack-Signature", "")))
        if not first and event_key:
            metrics.slack_requests.labels("duplicate").inc()
            log_request("http", "event", None, "duplicate", started, delivery=event_key)
            return web.Response(status=200, text="")
        if not first:
            return await refuse(request, raw, started, "replayed: this signed request was already received",
                                401,
                                "invalid request")
        bolt_req = ParsedBoltRequest(raw_body=body, body=data, query=request.query_string,
                                     headers=dict(request.headers))
        if early_ack and _ack_at_once(data):
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
    limiters = [limiter]
    if api is not None:
        limiters.append(RejectionLimiter())
        add_api_routes(app, deps, api, limiters[-1])

    async def flush_rejections(app: web.Application) -> None:
        for each in limiters:
            await each.flush(deps)

    app.on_shutdown.append(flush_rejections)
    return app


def _ack_at_once(data: dict[str, Any]) -> bool:
    """True for commands, block actions and events: their ack is an empty 200 that needs no listener."""
    return "command" in data or data.get("type") in ("event_callback", "block_actions")


async def drain_in_flight(app: web.Application, timeout: float = 20.0) -> None:
    """Wait for listeners still working after their ack (graceful shutdown)."""
    tasks = list(app.get(IN_FLIGHT, ()))
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


def signed(secret: bytes, raw: bytes, timestamp: str, signature: str) -> bool:
    """Slack's signature check (HMAC-SHA256 of `v0:{timestamp}:{body}`, timestamp within 5 minutes) over the
    body's bytes as they came, so a body that is not UTF-8 is simply unsigned (slack_sdk's verifier decodes
    it first and raises)."""
    if not timestamp.isascii() or not _fresh(timestamp):
        return False
    expected = "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def _fresh(ts: str) -> bool:
    """True when the timestamp is a number within Slack's 5-minute window."""
    try:
        return abs(time.time() - int(ts)) <= 300
    except ValueError:
        return False
