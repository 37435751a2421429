"""Socket Mode: Slack's requests arrive over a websocket the bot opens, so no public URL is needed.

When `SLACK_APP_TOKEN` (`xapp-…`) is set, `SocketModeRunner` asks `apps.connections.open` (at
`SLACK_API_URL`) for a websocket URL, connects with slack_sdk's aiohttp `SocketModeClient` (which
answers `hello`, follows `disconnect` to a fresh URL and reconnects on its own), and feeds every
envelope to the same bolt app HTTP mode uses. It keeps HTTP mode's behaviour (bot.web):

- Commands, block actions and events are acknowledged at once (an envelope ack with no payload),
  then the listener runs; everything else (view submissions, …) is dispatched first and bolt's
  response body becomes the ack's payload (`response_action: errors` and the like).
- Each envelope's work is a task in the web app's `IN_FLIGHT` set, so graceful shutdown waits for it.
- While the web app is not `ACCEPTING` (shutting down) nothing is acknowledged, so Slack delivers
  the envelope again on another connection.
- An Events API delivery whose `event_id` was seen before (a retry: `retry_attempt` > 0, or the same
  event over HTTP) is acknowledged and dropped, through the same delivery table as HTTP mode.
- Acks are counted in `accessbot_slack_requests_total` and timed in `accessbot_slack_ack_seconds`.

The aiohttp site keeps serving `/healthz`, `/metrics` and `/api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError
from bot.domain.typed import clean_tree
from bot.metrics import Metrics
from bot.services import conversations
from bot.services.context import Deps
from bot.slack.inbound import ParsedBoltRequest
from bot.slack.request_log import dispatch, kind_of, log_request
from bot.web import ACCEPTING, IN_FLIGHT, event_delivery_key

log = logging.getLogger(__name__)

# apps.connections.open errors that no retry will fix: the app token is wrong, not an app token, or revoked.
_TOKEN_ERRORS = frozenset({"not_authed", "invalid_auth", "not_allowed_token_type", "token_revoked",
                           "token_expired", "account_inactive", "missing_scope", "invalid_token"})


class SocketModeRunner:
    """Receives Slack's envelopes over Socket Mode and runs them through the bolt app."""

    def __init__(self, bolt_app: AsyncApp, app_token: str, api_url: str, web_app: web.Application,
                 metrics: Metrics, *, deps: Deps | None = None, early_ack: bool = True,
                 ping_interval: float = 5.0, connect_timeout: float = 30.0) -> None:
        """`deps` gives the store used to drop Events API retries (no deduplication without it);
        `early_ack=False` lets bolt acknowledge everything itself, as HTTP mode does with the same flag;
        `connect_timeout` bounds how long `start()` keeps trying to reach Slack."""
        self.bolt_app = bolt_app
        self.api_url = api_url
        self.web_app = web_app
        self.metrics = metrics
        self.deps = deps
        self.early_ack = early_ack
        self.ping_interval = ping_interval
        self.connect_timeout = connect_timeout
        self.client: SocketModeClient | None = None
        self._app_token = app_token

    async def start(self) -> None:
        """Open the first connection; raise ConfigError when Slack refuses the app token or stays unreachable.

        After this returns, reconnection (Slack's `disconnect`, a dropped socket, failed pings) is the
        client's own business.
        """
        if self.client is not None:
            return
        web_client = AsyncWebClient(base_url=self.api_url, timeout=10)
        client = SocketModeClient(app_token=self._app_token, web_client=web_client, auto_reconnect_enabled=True,
                                  ping_interval=self.ping_interval, logger=logging.getLogger(__name__ + ".client"))
        client.socket_mode_request_listeners.append(self._on_request)
        try:
            client.wss_uri = await self._first_url(client)
            await asyncio.wait_for(client.connect(), timeout=self.connect_timeout)
        except TimeoutError:
            await _close_quietly(client)
            raise ConfigError(f"SLACK_APP_TOKEN: could not open a Socket Mode connection within "
                              f"{self.connect_timeout:g}s") from None
        except BaseException:
            await _close_quietly(client)
            raise
        self.client = client
        log.info("socket mode connected")

    async def _first_url(self, client: SocketModeClient) -> str:
        """apps.connections.open, retried with back-off on anything but a token problem."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        delay = 0.5
        while True:
            try:
                response = await client.web_client.apps_connections_open(app_token=self._app_token)
                return str(response["url"])
            except SlackApiError as exc:
                error = str(exc.response.get("error", "")) if exc.response is not None else ""
                if error in _TOKEN_ERRORS:
                    raise ConfigError(f"SLACK_APP_TOKEN: Slack refused it ({error}; an app-level token, xapp-…, "
                                      "with the connections:write scope is needed)") from None
                problem = error or f"HTTP {exc.response.status_code}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if loop.time() + delay > deadline:
                raise ConfigError(f"SLACK_API_URL: apps.connections.open failed ({problem})")
            log.warning("socket mode: apps.connections.open failed (%s); retrying in %.1fs", problem, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        """Close the connection (call it after in-flight work drained: a computed ack still needs the socket)."""
        client, self.client = self.client, None
        if client is not None:
            await _close_quietly(client)
            log.info("socket mode disconnected")

    async def connected(self) -> bool:
        """True while a Socket Mode connection is open and answering pings."""
        return self.client is not None and await self.client.is_connected()

    # -- envelopes -----------------------------------------------------------------------------------

    async def _on_request(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        """The client's listener: refuse while shutting down, else hand the envelope to a tracked task."""
        started = time.perf_counter()
        if not self.web_app[ACCEPTING]:
            # No ack: Slack delivers the envelope again, on another connection.
            self.metrics.slack_requests.labels("shutting_down").inc()
            log_request("socket", kind_of(req.payload), None, "shutting_down", started)
            return
        self._track(self._handle(client, req, started))

    def _track(self, work: Coroutine[Any, Any, None]) -> asyncio.Task:
        """Run `work` as a task in the web app's in-flight set (graceful shutdown waits for those)."""
        in_flight: set[asyncio.Task] = self.web_app[IN_FLIGHT]
        task = asyncio.create_task(work)
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        task.add_done_callback(_log_failure)
        return task

    async def _handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest, started: float) -> None:
        key = _delivery_key(req)
        if key is not None and self.deps is not None:
            try:
                first = await conversations.first_delivery(self.deps, key)
            except Exception:
                # Unacknowledged, so Slack retries it (as HTTP mode's 500 would make it).
                self.metrics.slack_requests.labels("error").inc()
                raise
            if not first:
                if await self._ack(client, req, started, "duplicate"):
                    log_request("socket", "event", None, "duplicate", started, delivery=key,
                                retry_attempt=req.retry_attempt)
                return
        payload = clean_tree(req.payload) if isinstance(req.payload, dict) else {}
        bolt_req = ParsedBoltRequest(raw_body="", body=payload, mode="socket_mode", headers=_retry_headers(req))
        if self.early_ack and _ack_at_once(req):
            acked = await self._ack(client, req, started, "200")
            if not acked and key is None:
                # Slack saw no ack (the person is told it failed); doing the work now would surprise them.
                # An event is processed all the same: its delivery key is taken, so a redelivery is dropped.
                log_request("socket", kind_of(req.payload), None, "ack_failed", started)
                return
            await dispatch(self.bolt_app, bolt_req, started, "socket")
            return
        response = await dispatch(self.bolt_app, bolt_req, started, "socket")
        if response.status != 200:
            # As bolt's own socket mode adapter: no ack for a request nothing handled.
            self.metrics.slack_requests.labels(str(response.status)).inc()
            log.info("socket mode: %s envelope not acknowledged (bolt answered %s)", req.type, response.status)
            return
        await self._ack(client, req, started, "200", _ack_payload(response))

    async def _ack(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest, started: float, outcome: str,
                   payload: dict[str, Any] | None = None) -> bool:
        """Send the envelope's ack; False (and logged) when the connection would not take it."""
        try:
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=payload))
        except Exception as exc:  # noqa: BLE001 - a dead socket: the client reconnects, Slack redelivers
            self.metrics.slack_requests.labels("ack_failed").inc()
            log.warning("socket mode: could not acknowledge a %s envelope: %s", req.type, exc)
            return False
        self.metrics.slack_requests.labels(outcome).inc()
        if outcome != "duplicate":  # as bot.web: only answers that did something are timed
            self.metrics.ack_seconds.observe(time.perf_counter() - started)
        return True


def _ack_at_once(req: SocketModeRequest) -> bool:
    """True for commands, block actions and events: their ack carries nothing a listener computes."""
    if req.type in ("slash_commands", "events_api"):
        return True
    return req.type == "interactive" and isinstance(req.payload, dict) and req.payload.get("type") == "block_actions"


def _delivery_key(req: SocketModeRequest) -> str | None:
    """The Events API delivery key, the same as HTTP mode's for the same event."""
    return event_delivery_key(req.payload) if req.type == "events_api" else None


def _retry_headers(req: SocketModeRequest) -> dict[str, str] | None:
    """The retry headers HTTP mode would carry, so listeners see retries the same way in both modes."""
    headers: dict[str, str] = {}
    if req.retry_attempt:
        headers["x-slack-retry-num"] = str(req.retry_attempt)
    if req.retry_reason:
        headers["x-slack-retry-reason"] = req.retry_reason
    return headers or None


def _ack_payload(response: BoltResponse) -> dict[str, Any] | None:
    """bolt's HTTP response body as a Socket Mode ack payload (None for an empty body)."""
    if not response.body:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if content_type.startswith("application/json"):
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
    return {"text": response.body}


async def _close_quietly(client: SocketModeClient) -> None:
    with contextlib.suppress(Exception):
        await client.close()


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("socket mode: envelope handling failed: %s", task.exception(), exc_info=task.exception())
