"""The one way in for Slack's requests, whatever the transport: admitted, de-duplicated, acked, tracked, logged.

A transport (HTTP at /slack/events, or a Socket Mode envelope) verifies and parses what arrived, builds the bolt
request and a `Reply` (how it acknowledges), and hands both to `Ingress.handle`:

- While shutting down (`close()`), `admit` turns requests away (counted, logged; the transport says how).
- An Events API delivery whose `event_id` was seen before (a retry, or the same event over the other transport)
  is acknowledged and dropped (`bot.slack.deliveries`: in memory before the ack, the `deliveries` table after).
- Commands, block actions and events are acknowledged at once with nothing, then, once their delivery key is
  recorded as new, their listener runs as tracked work (`in_flight`), which shutdown drains; anything else (view
  submissions, …) runs first and bolt's answer is the ack. No database round trip stands before an early ack.
  Acked work takes turns (`bot.slack.turns`): one listener at a time ahead of the next ack.
- A signed request the transport found to be a replay only after its ack (another replica took its key) is
  not acted on; the transport's `on_replay` audits it.
- While `in_flight` is full (ACCESSBOT_MAX_PENDING_WORK), a command or click is answered "busy" at once and
  nothing is queued (`bot.slack.busy`), and an event is acknowledged and dropped; each is counted in
  `accessbot_slack_busy_total{kind}` and logged (outcome `busy`), not audited: it is a flood. Past
  `bot.slack.shedding.DETAIL_PER_SECOND` of those a second, the rest are logged as one summary line a second,
  clicks get no note, and a transport may answer them unparsed (`turn_away_unparsed`).
- Each delivered ack is counted in `accessbot_slack_requests_total` and timed in `accessbot_slack_ack_seconds`;
  each request gets one log line (`bot.slack.request_log`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.metrics import Metrics
from bot.slack.busy import BusyNotes, busy_ack, busy_ack_for
from bot.slack.deliveries import DeliveryLedger, FirstTime, one_by_one
from bot.slack.in_flight import InFlight
from bot.slack.request_log import dispatch, kind_of, log_request
from bot.slack.response_urls import ResponseUrls
from bot.slack.shedding import Shedding
from bot.slack.turns import Turns

log = logging.getLogger(__name__)
# Listeners of acked requests running at once, at most (ACCESSBOT_MAX_PENDING_WORK bounds how many wait).
RUNNING = 16
# The answer to a signed request whose key the database already had, when bolt was to answer it (not acked yet).
REPLAY_REFUSED = BoltResponse(status=401, body='{"error": "invalid request"}',
                              headers={"content-type": "application/json"})


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
    # a signed request's key (already noted in memory by the transport), and what to do if the database has it
    replay_key: str | None = None
    on_replay: Callable[[], Awaitable[None]] | None = None


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
                 deliveries: DeliveryLedger | None = None, early_ack: bool = True, in_flight: InFlight | None = None,
                 responses: ResponseUrls | None = None) -> None:
        """`deliveries` checks delivery keys (or `first_time`, one key at a time; no de-duplication without
        either); `early_ack=False` lets bolt acknowledge everything itself; `in_flight` is shared with listeners
        that start work of their own (its limit turns requests away); busy notes to clicks go over `responses`'
        session."""
        self.bolt = bolt
        self.metrics = metrics
        if deliveries is None and first_time is not None:
            deliveries = DeliveryLedger(one_by_one(first_time))
        self.deliveries = deliveries
        self.early_ack = early_ack
        self.in_flight = in_flight if in_flight is not None else InFlight()
        self.accepting = True
        # Listeners start one after another (bot.slack.turns), at most RUNNING at once: the rest of the acked work
        # waits its turn off the loop's ready queue, so a burst of work does not stand between the loop and the
        # next request's ack.
        self.turns = Turns(RUNNING)
        self.busy_notes = BusyNotes(responses if responses is not None else ResponseUrls())
        self.shedding = Shedding()

    def close(self) -> None:
        """Stop taking requests (graceful shutdown begins); what is in flight carries on."""
        self.accepting = False

    async def drain(self, timeout: float = 20.0) -> None:
        """Wait for the work still running after its ack."""
        await self.in_flight.drain(timeout)
        await self.busy_notes.drain(timeout)
        self.shedding.flush()
        if self.deliveries is not None:
            await self.deliveries.drain(timeout)

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

    def seen_here(self, key: str) -> bool:
        """True when this process saw the delivery key before (it is remembered now); no database round trip."""
        return self.deliveries is not None and not self.deliveries.note(key)

    async def handle(self, arrival: Arrival, reply: Reply) -> None:
        """Drop a repeated event, else acknowledge and hand the request to bolt (after the ack when it can wait)."""
        body = arrival.request.body
        key = event_delivery_key(body)
        if key is not None and self.seen_here(key):
            await self._duplicate(arrival, reply, key)
            return
        key = (key or arrival.replay_key) if self.deliveries is not None else None
        if self.early_ack and acks_at_once(body):
            if self.in_flight.full:
                await self._busy(arrival, reply)
                return
            if await reply.send(None):
                self._acked("200", arrival.started)
            elif event_delivery_key(body) is None:
                # Slack saw no ack (the person is told it failed); doing the work now would surprise them.
                # An event is processed all the same: its delivery key is taken, so a redelivery is dropped.
                log_request(arrival.transport, kind_of(body), None, "ack_failed", arrival.started)
                return
            self.track(self._work(arrival, key))
            return
        if key is not None and not await self._first(arrival, key):
            await reply.send(REPLAY_REFUSED if arrival.replay_key else None)
            return
        response = await dispatch(self.bolt, arrival.request, arrival.started, arrival.transport)
        if await reply.send(response):
            self._acked(str(response.status), arrival.started)

    async def _work(self, arrival: Arrival, key: str | None) -> None:
        """After the ack: the listener, unless the database says the delivery key was seen (by another replica)."""
        if key is None or await self._first(arrival, key):
            async with self.turns.turn():
                await dispatch(self.bolt, arrival.request, arrival.started, arrival.transport)

    async def _first(self, arrival: Arrival, key: str) -> bool:
        """True when the database records `key` as new; else the repeat is counted, logged (an event) or handed
        to the transport's `on_replay` (a signed request), and False. A database that cannot say is logged and
        the work goes ahead: this process has not seen the key, and its work needs that database anyway."""
        assert self.deliveries is not None
        try:
            if await self.deliveries.first(key):
                return True
        except Exception as exc:  # noqa: BLE001 - the ack is out; the work decides how to fail
            log.warning("delivery key not recorded (%s); handling the request anyway", exc)
            return True
        if arrival.on_replay is not None:
            await arrival.on_replay()
        else:
            self.metrics.slack_requests.labels("duplicate").inc()
            log_request(arrival.transport, kind_of(arrival.request.body), None, "duplicate", arrival.started,
                        delivery=key, retry_attempt=retry_attempt(arrival.request))
        return False

    async def _duplicate(self, arrival: Arrival, reply: Reply, key: str) -> None:
        """Acknowledge an event delivered before (in this process) and drop it, counted and logged."""
        if await reply.send(None):
            self.metrics.slack_requests.labels("duplicate").inc()
            log_request(arrival.transport, "event", None, "duplicate", arrival.started, delivery=key,
                        retry_attempt=retry_attempt(arrival.request))

    def sheds_unparsed(self) -> bool:
        """True while too much work is in flight and this second's detailed busy answers are spent: a transport
        may then answer a command or click it has not parsed with `turn_away_unparsed`."""
        return self.in_flight.full and not self.shedding.detail_left()

    def turn_away_unparsed(self, transport: str, kind: str, started: float) -> BoltResponse | None:
        """The busy ack of a `kind` ("command", "action") request the transport did not parse (None: an empty
        ack), counted and summed up in the next summary line."""
        self._turned_away(transport, kind, started)
        return busy_ack_for(kind)

    async def _busy(self, arrival: Arrival, reply: Reply) -> None:
        """Turn a command, click or event away while too much work is in flight: the busy answer (an event
        is only acknowledged), counted and logged (past the detail rate, in the summary line), nothing queued."""
        body = arrival.request.body
        kind = kind_of(body)
        if not await reply.send(busy_ack(body)):
            log_request(arrival.transport, kind, None, "ack_failed", arrival.started)
            return
        if not self.shedding.take_detail():
            self._turned_away(arrival.transport, kind, arrival.started)
            return
        self._acked("busy", arrival.started)
        self.metrics.slack_busy.labels(kind).inc()
        noted = kind == "action" and self.busy_notes.send(body)
        log_request(arrival.transport, kind, _user_of(body), "busy", arrival.started,
                    pending=len(self.in_flight), note_sent=noted)

    def _turned_away(self, transport: str, kind: str, started: float) -> None:
        """Count a busy answer that gets no line of its own (the shedding summary counts it)."""
        self._acked("busy", started)
        self.metrics.slack_busy.labels(kind).inc()
        self.shedding.quietly(transport, kind)

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
