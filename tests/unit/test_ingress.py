"""bot.slack.ingress: one path for Slack's requests over HTTP and Socket Mode (duplicates, acks, tracked work, logs)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import Metrics
from bot.polling import eventually
from bot.rejections import RejectionLimiter
from bot.slack.deliveries import DeliveryLedger
from bot.slack.http_events import SlackEvents
from bot.slack.in_flight import InFlight
from bot.slack.inbound import ParsedBoltRequest
from bot.slack.ingress import RUNNING, Arrival, Ingress
from bot.slack.socket_mode import SocketModeRunner
from bot.slack.turns import Turns
from tests.log_capture import logged_events

SECRET = "unit-test-signing-secret"
COMMAND = {"command": "/access", "text": "roles", "user_id": "U0ALICE", "user_name": "alice", "team_id": "T1",
           "channel_id": "C1", "trigger_id": "1.2.3", "response_url": "http://127.0.0.1:9/respond"}
EVENT = {"type": "event_callback", "event_id": "Ev0UNIT01", "team_id": "T1", "api_app_id": "A1",
         "event": {"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}}
EVENT_KEY = "event:Ev0UNIT01"


class Listeners:
    """A bolt app whose `/access` and `app_home_opened` listeners note each call; `gate` holds the command's
    work after its ack until it is set."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.started = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.app = AsyncApp(client=AsyncWebClient(base_url="http://127.0.0.1:9/"), signing_secret=SECRET,
                            authorize=_authorize, process_before_response=True, request_verification_enabled=False,
                            ignoring_self_events_enabled=False)

        @self.app.command("/access")
        async def command(ack, command: dict[str, Any]) -> None:  # noqa: ANN001
            await ack()
            self.started += 1
            await self.gate.wait()
            self.calls.append("command " + command["text"])

        @self.app.event("app_home_opened")
        async def home(event: dict[str, Any]) -> None:
            self.calls.append("home " + event["user"])


async def _authorize(**_: Any) -> AuthorizeResult:
    """A fixed installation, so bolt asks Slack nothing."""
    return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token="xoxb-unit", bot_user_id="U0BOT", bot_id="B1")


class Acks:
    """A transport's reply that notes each ack it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[BoltResponse | None] = []

    async def send(self, response: BoltResponse | None) -> bool:
        self.sent.append(response)
        return True


def _deliveries() -> Any:
    """A `deliveries` table in memory: True the first time a key is seen."""
    seen: set[str] = set()

    async def first_time(key: str) -> bool:
        if key in seen:
            return False
        seen.add(key)
        return True

    return first_time


def _ingress(listeners: Listeners) -> Ingress:
    return Ingress(listeners.app, Metrics(), first_time=_deliveries())


def _counted(ingress: Ingress, outcome: str) -> float:
    return ingress.metrics.registry.get_sample_value("accessbot_slack_requests_total", {"outcome": outcome}) or 0.0


def _arrival(body: dict[str, Any], transport: str = "socket") -> Arrival:
    return Arrival(transport, ParsedBoltRequest(raw_body="", body=dict(body), mode="socket_mode"), time.perf_counter())


@pytest.fixture
def request_lines() -> Iterator[list[dict[str, Any]]]:
    """The "slack request" lines logged while the test runs (as structlog hands them to the stdlib logger)."""
    with logged_events("bot.slack.requests", "slack request") as lines:
        yield lines


async def test_a_repeated_event_delivery_is_acknowledged_but_handled_once() -> None:
    listeners = Listeners()
    ingress = _ingress(listeners)
    first, again = Acks(), Acks()
    await ingress.handle(_arrival(EVENT), first)
    await ingress.handle(_arrival(EVENT), again)
    await ingress.drain()
    assert listeners.calls == ["home U0ALICE"]
    assert first.sent == [None] and again.sent == [None], "both are acked with nothing, so Slack stops retrying"
    assert _counted(ingress, "duplicate") == 1 and _counted(ingress, "200") == 1


async def test_a_command_is_acked_before_its_work_which_is_tracked_and_waited_for_at_shutdown() -> None:
    listeners = Listeners()
    listeners.gate.clear()
    ingress = _ingress(listeners)
    acks = Acks()
    await ingress.handle(_arrival(COMMAND), acks)
    assert acks.sent == [None], "the ack went out at once, empty"
    await asyncio.sleep(0.01)
    assert ingress.in_flight and listeners.calls == [], "the listener is still working after its ack"
    ingress.close()
    assert not ingress.admit("socket", "command", time.perf_counter()), "a closed ingress takes nothing new"
    assert _counted(ingress, "shutting_down") == 1
    asyncio.get_running_loop().call_later(0.05, listeners.gate.set)
    await ingress.drain()
    assert not ingress.in_flight and listeners.calls == ["command roles"]


async def test_without_early_ack_bolt_answers_and_its_response_is_the_ack() -> None:
    listeners = Listeners()
    ingress = Ingress(listeners.app, Metrics(), early_ack=False)
    acks = Acks()
    await ingress.handle(_arrival(COMMAND), acks)
    [response] = acks.sent
    assert response is not None and response.status == 200 and listeners.calls == ["command roles"]
    assert not ingress.in_flight


class FakeSocket:
    """The part of slack_sdk's Socket Mode client the runner acks through."""

    def __init__(self) -> None:
        self.acks: list[Any] = []

    async def send_socket_mode_response(self, response: Any) -> None:
        self.acks.append(response)


async def _over_http(ingress: Ingress, body: dict[str, Any]) -> int:
    """POST `body` to a real /slack/events handler, signed as Slack signs; the HTTP status."""
    app = web.Application()
    # a signed, fresh request is never refused, so nothing is audited and no store is needed
    app.router.add_post("/slack/events", SlackEvents(None, ingress, SECRET, RejectionLimiter()))  # type: ignore[arg-type]
    is_event = body.get("type") == "event_callback"
    raw = (json.dumps(body) if is_event else urlencode(body)).encode()
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json" if is_event else "application/x-www-form-urlencoded",
               "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/slack/events", data=raw, headers=headers)
        return resp.status


async def _over_socket(ingress: Ingress, body: dict[str, Any]) -> None:
    """Hand `body` to the Socket Mode runner as an envelope of its kind."""
    runner = SocketModeRunner(ingress, "xapp-unit", "http://127.0.0.1:9/")
    kind = "events_api" if body.get("type") == "event_callback" else "slash_commands"
    envelope = SocketModeRequest(type=kind, envelope_id=f"env-{time.perf_counter_ns()}", payload=dict(body))
    await runner._on_request(FakeSocket(), envelope)  # the client's listener, as slack_sdk calls it


async def test_both_transports_log_the_same_line_for_the_same_payload(request_lines: list[dict[str, Any]]) -> None:
    by_transport: dict[str, list[dict[str, Any]]] = {}
    for transport, send in (("http", _over_http), ("socket", _over_socket)):
        ingress = _ingress(Listeners())
        for body in (COMMAND, EVENT, EVENT):  # the event's second delivery is a duplicate
            await send(ingress, body)
            await ingress.drain()
        by_transport[transport] = [line for line in request_lines if line["transport"] == transport]
    http, socket = by_transport["http"], by_transport["socket"]
    assert [(line["kind"], line["outcome"]) for line in http] == [
        ("command", "ok"), ("event", "ok"), ("event", "duplicate")]

    def same(line: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in line.items() if k not in ("transport", "ms", "trace_id", "at")}

    assert [same(line) for line in http] == [same(line) for line in socket]


async def test_tracked_work_that_fails_leaves_the_set_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    in_flight = InFlight()

    async def broken() -> None:
        raise RuntimeError("listener blew up")

    with caplog.at_level(logging.ERROR, logger="bot.slack.in_flight"):
        in_flight.track(broken())
        assert in_flight
        await in_flight.drain()
        await asyncio.sleep(0)  # the done callbacks run on the next turn of the loop
    assert not in_flight
    assert any("listener blew up" in r.getMessage() for r in caplog.records)


class GatedTable:
    """The `deliveries` table of every replica, in memory; writes wait for `gate`."""

    def __init__(self, *seen: str) -> None:
        self.keys = set(seen)
        self.gate = asyncio.Event()
        self.gate.set()

    async def record(self, keys: list[str]) -> set[str]:
        await self.gate.wait()
        new = {k for k in keys if k not in self.keys}
        self.keys |= new
        return new


def _signed(body: dict[str, Any], key: str, replays: list[str]) -> Arrival:
    """A signed request as the HTTP transport hands it over: its key noted, and what to do on a late replay."""

    async def on_replay() -> None:
        replays.append(key)

    return Arrival("http", ParsedBoltRequest(raw_body="", body=dict(body)), time.perf_counter(), key, on_replay)


async def test_the_ack_goes_out_while_the_delivery_key_write_waits_and_the_work_runs_after_it() -> None:
    listeners, table = Listeners(), GatedTable()
    table.gate.clear()
    ingress = Ingress(listeners.app, Metrics(), deliveries=DeliveryLedger(table.record))
    acks = Acks()
    await asyncio.wait_for(ingress.handle(_signed(COMMAND, "signed:one", []), acks), 1)
    assert acks.sent == [None], "acked with the database write still waiting"
    await asyncio.sleep(0.02)
    assert listeners.calls == [] and ingress.in_flight, "the work waits for the key to be recorded"
    table.gate.set()
    await ingress.drain()
    assert listeners.calls == ["command roles"] and table.keys == {"signed:one"}


async def test_a_key_another_replica_recorded_is_acked_but_its_work_never_runs() -> None:
    listeners, replays = Listeners(), []
    ingress = Ingress(listeners.app, Metrics(), deliveries=DeliveryLedger(GatedTable("signed:one", EVENT_KEY).record))
    command, event = Acks(), Acks()
    await ingress.handle(_signed(COMMAND, "signed:one", replays), command)
    await ingress.handle(_arrival(EVENT), event)
    await ingress.drain()
    assert command.sent == [None] and event.sent == [None] and listeners.calls == []
    assert replays == ["signed:one"], "the transport audits the replay"
    assert _counted(ingress, "duplicate") == 1, "the event's redelivery is counted as a duplicate"


async def test_without_early_ack_a_replay_the_table_knows_is_refused_before_bolt_runs() -> None:
    listeners, replays = Listeners(), []
    ingress = Ingress(listeners.app, Metrics(), early_ack=False,
                      deliveries=DeliveryLedger(GatedTable("signed:one").record))
    acks = Acks()
    await ingress.handle(_signed(COMMAND, "signed:one", replays), acks)
    [response] = acks.sent
    assert response is not None and response.status == 401 and listeners.calls == [] and replays == ["signed:one"]


async def test_at_most_running_listeners_work_at_once_and_the_rest_wait_their_turn() -> None:
    listeners = Listeners()
    listeners.gate.clear()
    ingress = _ingress(listeners)
    acks = Acks()
    for i in range(RUNNING + 5):
        await ingress.handle(_arrival({**COMMAND, "text": f"roles {i}"}), acks)
    assert acks.sent == [None] * (RUNNING + 5), "every one acked at once"
    await eventually(lambda: listeners.started == RUNNING, timeout=5)  # one after another, each after the grace
    await asyncio.sleep(0.1)
    assert listeners.started == RUNNING and len(ingress.in_flight) == RUNNING + 5, "5 wait, tracked, not running"
    listeners.gate.set()
    await ingress.drain()
    assert len(listeners.calls) == RUNNING + 5


async def test_acked_work_takes_turns_so_a_listener_starts_only_when_the_one_before_gives_way() -> None:
    listeners = Listeners()
    listeners.gate.clear()
    ingress = _ingress(listeners)
    ingress.turns = Turns(RUNNING, grace=60)  # a turn passes only when its listener ends
    for i in range(3):
        await ingress.handle(_arrival({**COMMAND, "text": f"roles {i}"}), Acks())
    await asyncio.sleep(0.05)
    assert listeners.started == 1 and len(ingress.in_flight) == 3, "acked and tracked, started one at a time"
    listeners.gate.set()
    await ingress.drain()
    assert listeners.calls == ["command roles 0", "command roles 1", "command roles 2"]


async def test_without_a_deliveries_table_a_signed_command_is_simply_handled() -> None:
    listeners = Listeners()
    ingress = Ingress(listeners.app, Metrics())
    for _ in range(2):
        await ingress.handle(_signed(COMMAND, "signed:one", []), Acks())
    await ingress.drain()
    assert listeners.calls == ["command roles", "command roles"], "no de-duplication without a table"
