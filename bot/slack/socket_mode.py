"""Socket Mode: Slack's requests arrive over a websocket the bot opens, so no public URL is needed.

When `SLACK_APP_TOKEN` (`xapp-…`) is set, `SocketModeRunner` asks `apps.connections.open` (at
`SLACK_API_URL`) for a websocket URL, connects with slack_sdk's aiohttp `SocketModeClient` (which
answers `hello`, follows `disconnect` to a fresh URL and reconnects on its own), and feeds every
envelope to the same ingress (`bot.slack.ingress`) HTTP mode uses, so both behave alike: acks at once,
de-duplicated events, tracked work, the same log lines and metrics. What is Socket Mode's own stays here:

- The ack is an envelope ack; bolt's response body becomes its payload (`response_action: errors` and the like),
  and a request bolt did not handle (not 200) gets no ack, as bolt's own socket mode adapter does.
- Each envelope's whole handling is tracked work, so graceful shutdown waits for it.
- While the ingress is closed (shutting down) nothing is acknowledged, so Slack delivers the envelope again
  on another connection; a failure before the ack (the database) leaves it unacknowledged, so Slack retries it.

The aiohttp site keeps serving `/healthz`, `/metrics` and `/api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import aiohttp
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
from bot.slack.inbound import ParsedBoltRequest
from bot.slack.ingress import Arrival, Ingress
from bot.slack.request_log import kind_of

log = logging.getLogger(__name__)

# apps.connections.open errors that no retry will fix: the app token is wrong, not an app token, or revoked.
_TOKEN_ERRORS = frozenset({"not_authed", "invalid_auth", "not_allowed_token_type", "token_revoked",
                           "token_expired", "account_inactive", "missing_scope", "invalid_token"})


class SocketModeRunner:
    """Receives Slack's envelopes over Socket Mode and hands them to the ingress."""

    def __init__(self, ingress: Ingress, app_token: str, api_url: str, *, ping_interval: float = 5.0,
                 connect_timeout: float = 30.0) -> None:
        """Envelopes go to `ingress` (the same as HTTP mode's); `connect_timeout` bounds how long `start()`
        keeps trying to reach Slack."""
        self.ingress = ingress
        self.api_url = api_url
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
        """The client's listener: refuse while shutting down, else hand the envelope to tracked work."""
        started = time.perf_counter()
        # No ack while shutting down: Slack delivers the envelope again, on another connection.
        if self.ingress.admit("socket", kind_of(req.payload), started):
            self.ingress.track(self._handle(client, req, started))

    async def _handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest, started: float) -> None:
        """Run one envelope through the ingress; a failure before its ack leaves it unacknowledged."""
        payload = clean_tree(req.payload) if isinstance(req.payload, dict) else {}
        bolt_req = ParsedBoltRequest(raw_body="", body=payload, mode="socket_mode", headers=_retry_headers(req))
        reply = _EnvelopeReply(client, req, self.ingress.metrics)
        try:
            await self.ingress.handle(Arrival("socket", bolt_req, started), reply)
        except Exception:
            if not reply.sent:  # unacknowledged, so Slack retries it (as HTTP mode's 500 would make it)
                self.ingress.metrics.slack_requests.labels("error").inc()
            raise


class _EnvelopeReply:
    """Acknowledges one envelope over the socket it came on."""

    def __init__(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest, metrics: Metrics) -> None:
        """Nothing sent yet."""
        self.client = client
        self.req = req
        self.metrics = metrics
        self.sent = False

    async def send(self, response: BoltResponse | None) -> bool:
        """Send the envelope's ack (bolt's answer as its payload); False (counted, logged) when it did not go."""
        if response is not None and response.status != 200:
            # As bolt's own socket mode adapter: no ack for a request nothing handled.
            self.metrics.slack_requests.labels(str(response.status)).inc()
            log.info("socket mode: %s envelope not acknowledged (bolt answered %s)", self.req.type, response.status)
            return False
        payload = _ack_payload(response) if response is not None else None
        try:
            await self.client.send_socket_mode_response(SocketModeResponse(envelope_id=self.req.envelope_id,
                                                                           payload=payload))
        except Exception as exc:  # noqa: BLE001 - a dead socket: the client reconnects, Slack redelivers
            self.metrics.slack_requests.labels("ack_failed").inc()
            log.warning("socket mode: could not acknowledge a %s envelope: %s", self.req.type, exc)
            return False
        self.sent = True
        return True


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
    """Close the client, whatever it says."""
    with contextlib.suppress(Exception):
        await client.close()
