"""Slack over HTTP: POST /slack/events is verified (signature, freshness, replays) and parsed, then the ingress runs it.

What is HTTP's own stays here: the signature check, the body's content type, the replay of a signed request,
and the status codes (401 and 400 audited as `auth.rejected`, 503 while shutting down). The rest (ack at once,
de-duplicated events, tracked work, the log line) is `bot.slack.ingress`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.response import BoltResponse

from bot.domain.retention import SLACK_SIGNATURE_WINDOW
from bot.rejections import RejectionLimiter, audit_rejection
from bot.services.context import Deps
from bot.slack.inbound import BodyError, ParsedBoltRequest, decode, parse_slack_body
from bot.slack.ingress import Arrival, Ingress, event_delivery_key
from bot.slack.request_log import kind_of, log_request
from bot.slack.shedding import sniff_kind

SOCKET_MODE_IS_ON = "Socket Mode is on: Slack requests do not come over HTTP"
REPLAYED = "replayed: this signed request was already received"


class _HttpReply:
    """The HTTP answer the ingress chose: None for an empty 200, else bolt's response."""

    def __init__(self) -> None:
        """No answer yet."""
        self.answer: BoltResponse | None = None

    async def send(self, response: BoltResponse | None) -> bool:
        """Keep the answer for the handler to return (an HTTP answer always goes out)."""
        self.answer = response
        return True

    async def to_http(self) -> web.StreamResponse:
        """The answer as aiohttp's response."""
        if self.answer is None:
            return web.Response(status=200, text="")
        return await to_aiohttp_response(self.answer)


class SlackEvents:
    """The aiohttp handler of POST /slack/events."""

    def __init__(self, deps: Deps, ingress: Ingress, signing_secret: str, limiter: RejectionLimiter, *,
                 over_http: bool = True) -> None:
        """With `over_http=False` (Socket Mode) every caller is answered 401, signed or not; `limiter` bounds
        how many rejections are audited one by one."""
        self.deps = deps
        self.ingress = ingress
        self.secret = signing_secret.encode()
        self.limiter = limiter
        self.over_http = over_http

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        """Answer one request: refused, dropped as a repeat, or acknowledged as the ingress decides."""
        started = time.perf_counter()
        if not self.ingress.admit("http", "unknown", started):
            return web.json_response({"error": "shutting down"}, status=503)
        raw = await request.read()
        why = self._unverified(request, raw)
        if why is not None:
            return await self._refuse(request, raw, started, why, 401, "invalid request")
        if self.ingress.sheds_unparsed():
            shed = await self._shed(request, raw, started)
            if shed is not None:
                return shed
        try:
            body = decode(raw)
            data = parse_slack_body(body, request.headers.get("Content-Type", ""))
        except BodyError as exc:
            return await self._refuse(request, raw, started, f"unreadable body: {exc}", 400, "bad request")
        # An event's retries share its event_id (the ingress drops them quietly); anything else Slack signs only
        # once, so the same signature again is a replay within the 5-minute window (refused, audited).
        # Checked in memory here; the database (every replica's keys) is asked after the ack (bot.slack.deliveries).
        key, on_replay = None, None
        if event_delivery_key(data) is None:
            key = replay_key(request.headers.get("X-Slack-Signature", ""))
            if self.ingress.seen_here(key):
                return await self._refuse(request, raw, started, REPLAYED, 401, "invalid request")
            on_replay = functools.partial(self._replayed, raw, request.remote or "",
                                          request.headers.get("Content-Type", ""), started)
        bolt_req = ParsedBoltRequest(raw_body=body, body=data, query=request.query_string,
                                     headers=dict(request.headers))
        reply = _HttpReply()
        await self.ingress.handle(Arrival("http", bolt_req, started, key, on_replay), reply)
        return await reply.to_http()

    async def _shed(self, request: web.Request, raw: bytes, started: float) -> web.StreamResponse | None:
        """A flood's busy answer without parsing the body (`bot.slack.shedding`): a replay is still refused;
        None when the body is not certainly a command or a block action (it takes the whole path)."""
        kind = sniff_kind(raw, request.headers.get("Content-Type"))
        if kind is None:
            return None
        if self.ingress.seen_here(replay_key(request.headers.get("X-Slack-Signature", ""))):
            return await self._refuse(request, raw, started, REPLAYED, 401, "invalid request")
        reply = _HttpReply()
        await reply.send(self.ingress.turn_away_unparsed("http", kind, started))
        return await reply.to_http()

    def _unverified(self, request: web.Request, raw: bytes) -> str | None:
        """Why the request is not Slack's (None when it is signed and fresh)."""
        if not self.over_http:
            return SOCKET_MODE_IS_ON
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        if signed(self.secret, raw, timestamp, request.headers.get("X-Slack-Signature", "")):
            return None
        return "bad signature" if _fresh(timestamp) else "stale or missing timestamp"

    async def _refuse(self, request: web.Request, raw: bytes, started: float, why: str, status: int,
                      error: str) -> web.Response:
        """Answer a request bolt will not see, audited as auth.rejected and logged with its kind."""
        await self._rejected(raw, request.remote or "", request.headers.get("Content-Type", ""), started, why)
        return web.json_response({"error": error}, status=status)

    async def _replayed(self, raw: bytes, remote: str, content_type: str, started: float) -> None:
        """A replay found after its ack (another replica had its key): not acted on, audited like one refused."""
        await self._rejected(raw, remote, content_type, started, REPLAYED)

    async def _rejected(self, raw: bytes, remote: str, content_type: str, started: float, why: str) -> None:
        """Count, audit (auth.rejected) and log a request that is not acted on."""
        self.ingress.metrics.slack_requests.labels("rejected").inc()
        await audit_rejection(self.deps, self.limiter, {"source": "slack", "why": why, "claimed_user": _who(raw),
                                                        "remote": remote})
        log_request("http", _kind(raw, content_type), None, "rejected", started, claimed_user=_who(raw), why=why)


def replay_key(signature: str) -> str:
    """The delivery key of a signed request that is not an event: Slack never sends the same signed slash
    command or click twice (the signature covers the timestamp and the body), so a repeat is a replay."""
    return "signed:" + hashlib.sha256(signature.encode("utf-8", "replace")).hexdigest()


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
        return abs(time.time() - int(ts)) <= SLACK_SIGNATURE_WINDOW.total_seconds()
    except ValueError:
        return False


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
