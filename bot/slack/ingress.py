"""The one way in for Slack's requests, whatever the transport: admitted, de-duplicated, acked, tracked, logged.

A transport (HTTP at /slack/events, or a Socket Mode envelope) verifies and parses what arrived, builds the bolt
request and a `Reply` (how it acknowledges), and hands both to `Ingress.handle`:

- While shutting down (`close()`), `admit` turns requests away (counted, logged; the transport says how).
- An Events API delivery whose `event_id` was seen before (a retry, or the same event over the other transport)
  is acknowledged and dropped, through the `deliveries` table.
- Commands, block actions and events are acknowledged at once with nothing, then their listener runs as tracked
  work (`in_flight`), which shutdown drains; anything else (view submissions, …) runs first and bolt's answer
  is the ack.
- While `in_flight` is full (ACCESSBOT_MAX_PENDING_WORK), a command or click is answered "busy" at once and
  nothing is queued (`bot.slack.busy`), and an event is acknowledged and dropped; each is counted in
  `accessbot_slack_busy_total{kind}` and logged (outcome `busy`), not audited: it is a flood.
- Each delivered ack is counted in `accessbot_slack_requests_total` and timed in `accessbot_slack_ack_seconds`;
  each request gets one log line (`bot.slack.request_log`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.metrics import Metrics
from bot.slack.busy import BusyNotes, busy_ack
from bot.slack.in_flight import InFlight
from bot.slack.request_log import dispatch, kind_of, log_request
from bot.slack.response_urls import ResponseUrls

# True the first time a delivery key is seen (the `deliveries` table), False for a repeat.
FirstTime = Callable[[str], Awaitable[bool]]


class Reply(Protocol):
    """How a transport acknowledges the request it handed over."""

    async def send(self, response: BoltResponse | None) -> bool:
        """Acknowledge with bolt's `response` (None: an empty ack); False when the transport did not deliver it."""


@dataclass(frozen=True)
class Arrival:
    """A verified, parsed Slack request, as a transport hands it over."""

    transport: str              # "http" or "socket": the log line's transport
    request: AsyncBoltRequest   # what bolt gets; its `body` is the parsed, cleaned payload
    started: float              # time.perf_counter() when it arrived


def event_delivery_key(data: object) -> str | None:
    """The key of an Events API delivery (retries carry the same event_id), else None; the same in both transports."""
    if isinstance(data, dict) and data.get("type") == "event_callback" and data.get("event_id"):
        return "event:" + str(data["event_id"])
    return None


def acks_at_once(data: dict[str, Any]) -> bool:
    """True for commands, block actions and events: their ack is empty and needs no listener."""
    return "command" in data or data.get("type") in ("event_callback", "block_actions")


def retry_attempt(request: AsyncBoltRequest) -> int | None:
    """Slack's retry number of a request (its `X-Slack-Retry-Num`), None on a first delivery."""
    value = (request.headers.get("x-slack-retry-num") or [""])[0]
    return int(value) if value.isdigit() else None


class Ingress:
    """The path every Slack request takes from "it arrived, verified" to "acknowledged and handed to bolt"."""

    def __init__(self, bolt: AsyncApp, metrics: Metrics, *, first_time: FirstTime | None = None,
                 early_ack: bool = True, in_flight: InFlight | None = None,
                 responses: ResponseUrls | None = None) -> None:
        """`first_time` checks delivery keys (no de-duplication without it); `early_ack=False` lets bolt
        acknowledge everything itself; `in_flight` is shared with listeners that start work of their own (its
        limit turns requests away); busy notes to clicks go over `responses`' session."""
        self.bolt = bolt
        self.metrics = metrics
        self.first_time = first_time
        self.early_ack = early_ack
        self.in_flight = in_flight if in_flight is not None else InFlight()
        self.accepting = True
        self.busy_notes = BusyNotes(responses if responses is not None else ResponseUrls())

    def close(self) -> None:
        """Stop taking requests (graceful shutdown begins); what is in flight carries on."""
        self.accepting = False

    async def drain(self, timeout: float = 20.0) -> None:
        """Wait for the work still running after its ack."""
        await self.in_flight.drain(timeout)
        await self.busy_notes.drain(timeout)

    def track(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` as tracked in-flight work."""
        self.in_flight.track(work)

    def admit(self, transport: str, kind: str, started: float) -> bool:
        """True while requests are taken; else the refusal is counted and logged, and False."""
        if self.accepting:
            return True
        self.metrics.slack_requests.labels("shutting_down").inc()
        log_request(transport, kind, None, "shutting_down", started)
        return False

    async def is_first(self, key: str) -> bool:
        """True unless the delivery key was seen before."""
        return self.first_time is None or await self.first_time(key)

    async def handle(self, arrival: Arrival, reply: Reply) -> None:
        """Drop a repeated event, else acknowledge and hand the request to bolt (after the ack when it can wait)."""
        body = arrival.request.body
        key = event_delivery_key(body)
        if key is not None and not await self.is_first(key):
            if await reply.send(None):
                self.metrics.slack_requests.labels("duplicate").inc()
                log_request(arrival.transport, "event", None, "duplicate", arrival.started, delivery=key,
                            retry_attempt=retry_attempt(arrival.request))
            return
        if self.early_ack and acks_at_once(body):
            if self.in_flight.full:
                await self._busy(arrival, reply)
                return
            if await reply.send(None):
                self._acked("200", arrival.started)
            elif key is None:
                # Slack saw no ack (the person is told it failed); doing the work now would surprise them.
                # An event is processed all the same: its delivery key is taken, so a redelivery is dropped.
                log_request(arrival.transport, kind_of(body), None, "ack_failed", arrival.started)
                return
            self.track(dispatch(self.bolt, arrival.request, arrival.started, arrival.transport))
            return
        response = await dispatch(self.bolt, arrival.request, arrival.started, arrival.transport)
        if await reply.send(response):
            self._acked(str(response.status), arrival.started)

    async def _busy(self, arrival: Arrival, reply: Reply) -> None:
        """Turn a command, click or event away while too much work is in flight: the busy answer (an event
        is only acknowledged), counted and logged, nothing queued."""
        body = arrival.request.body
        kind = kind_of(body)
        if not await reply.send(busy_ack(body)):
            log_request(arrival.transport, kind, None, "ack_failed", arrival.started)
            return
        self._acked("busy", arrival.started)
        self.metrics.slack_busy.labels(kind).inc()
        noted = kind == "action" and self.busy_notes.send(body)
        log_request(arrival.transport, kind, _user_of(body), "busy", arrival.started,
                    pending=len(self.in_flight), note_sent=noted)

    def _acked(self, outcome: str, started: float) -> None:
        """Count a delivered ack and time it."""
        self.metrics.slack_requests.labels(outcome).inc()
        self.metrics.ack_seconds.observe(time.perf_counter() - started)


def _user_of(body: dict[str, Any]) -> str | None:
    """Who sent a command or click (for the log line), None for an event."""
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id") or "") or None
    return str(body["user_id"]) if body.get("user_id") else None
