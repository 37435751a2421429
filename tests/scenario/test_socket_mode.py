"""Socket Mode (spec §1): with SLACK_APP_TOKEN the bot takes Slack's requests over a websocket it opens.

The bot here is started by `bot.bootstrap.Server` exactly as `accessbot serve` starts it, with an app
token and no signing secret; the driver's HTTP URL points at a closed port, so nothing reaches the bot
except through the Slack simulator's websocket. /healthz and /metrics are still served over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.bootstrap import Bot
from bot.config import ConfigError
from bot.domain.clock import ManualClock
from bot.domain.model import GrantState
from bot.metrics import Metrics
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.simulators.slack_driver import SlackDriver
from bot.simulators.slack_sim import SlackSimulator
from bot.simulators.stack import CF_TOKEN, SIGNING_SECRET, SLACK_TOKEN, Stack, default_people, start_stack
from bot.slack.ingress import Ingress
from bot.slack.socket_mode import SocketModeRunner
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVE,
    BASE_POLICY,
    BOB,
    CAROL,
    DANA,
    all_text,
    approval_message,
    audit,
    emails,
    grants,
    only_request,
    settle,
    wait_until,
)

NOWHERE = "http://127.0.0.1:9"  # the driver's HTTP target: nothing listens there (no public URL in Socket Mode)
FAST_ACK = 0.05  # seconds; the ack goes out before any listener work (measured ~1 ms on loopback)


@dataclass
class SocketStack:
    """The bot in Socket Mode, started by `Server` as `serve` starts it (duck-types `Stack` for the helpers)."""

    stack: Stack
    driver: SlackDriver

    @property
    def slack(self) -> SlackSimulator:
        return self.stack.slack

    @property
    def cloudflare(self) -> CloudflareSimulator:
        return self.stack.cloudflare

    @property
    def bot(self) -> Bot:
        return self.stack.bot

    @property
    def ingress(self) -> Ingress:
        assert self.stack.bot.ingress is not None, "bootstrap.build made the ingress"
        return self.stack.bot.ingress

    @property
    def socket(self) -> SocketModeRunner:
        assert self.stack.server.socket is not None, "Server.start opened Socket Mode"
        return self.stack.server.socket

    @property
    def http_url(self) -> str:
        return self.stack.url

    async def stop(self) -> None:
        await self.driver.close()
        await self.stack.stop()


async def _simulators() -> tuple[SlackSimulator, CloudflareSimulator, str]:
    slack = SlackSimulator(token=SLACK_TOKEN)
    cloudflare = CloudflareSimulator(token=CF_TOKEN)
    await slack.start()
    cf_url = await cloudflare.start()
    default_people(slack)
    return slack, cloudflare, cf_url


async def start_socket_stack(database_url: str, clock: ManualClock) -> SocketStack:
    """The whole bot through `Server.start` with SLACK_APP_TOKEN set and no signing secret."""
    stack = await start_stack(BASE_POLICY, database_url=database_url, clock=clock, max_sleep=0.2, socket_mode=True,
                              settings_overrides={"accessbot_reconcile_interval": timedelta(0)})
    stack.slack.add_usergroup("S0ENGINEERS", [CAROL, DANA])
    assert stack.bot.settings.slack_signing_secret is None and stack.bot.settings.socket_mode
    driver = SlackDriver(NOWHERE, "not-used-in-socket-mode", stack.slack)
    return SocketStack(stack, driver)


@pytest.fixture
async def sstack(database_url: str, clock: ManualClock) -> AsyncIterator[SocketStack]:
    stack = await start_socket_stack(database_url, clock)
    try:
        yield stack
    finally:
        await stack.stop()


async def _file_request(stack: SocketStack, text: str = "request prod-db 1h incident 4211") -> str:
    result = await stack.driver.socket_slash(ALICE, text)
    assert result.ack["payload"] is None, "a command's ack carries nothing; the answer comes by response_url"
    await settle(stack)  # type: ignore[arg-type]
    return (await only_request(stack, ALICE)).id  # type: ignore[arg-type]


def _requests_counted(stack: SocketStack, outcome: str) -> float:
    value = stack.bot.metrics.registry.get_sample_value("accessbot_slack_requests_total", {"outcome": outcome})
    return value or 0.0


# ---- connecting ---------------------------------------------------------------------------------------------


async def test_the_bot_connects_over_socket_mode_with_only_the_app_token(sstack: SocketStack) -> None:
    slack = sstack.slack
    assert slack.socket_connected() and await sstack.socket.connected()
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.response["ok"] and opened.response["url"].startswith("ws://127.0.0.1:")
    assert [c["id"] for c in slack.socket_connections()] == [1]
    # nothing else was asked of Slack to connect, and no Slack request can reach the bot over HTTP here
    assert sstack.driver.url.startswith(NOWHERE)


async def test_a_wrong_app_token_stops_start_up_with_one_clear_line_that_names_it() -> None:
    slack, cloudflare, _ = await _simulators()
    assert slack.base_url is not None
    bolt = AsyncApp(client=AsyncWebClient(token=SLACK_TOKEN, base_url=slack.base_url), signing_secret="unused")
    try:
        for token, error in (("xapp-wrong-0123456789", "invalid_auth"), (SLACK_TOKEN, "not_allowed_token_type")):
            runner = SocketModeRunner(Ingress(bolt, Metrics()), token, slack.base_url, connect_timeout=2)
            with pytest.raises(ConfigError) as raised:
                await runner.start()
            message = str(raised.value)
            assert message.startswith("SLACK_APP_TOKEN:") and error in message
            assert token not in message, "a token never appears in an error"
            assert runner.client is None
        assert not slack.socket_connections()
    finally:
        await slack.stop()
        await cloudflare.stop()


# ---- commands, clicks, events -------------------------------------------------------------------------------


async def test_a_slash_command_over_socket_mode_is_acked_within_milliseconds_and_files_the_request(
        sstack: SocketStack) -> None:
    result = await sstack.driver.socket_slash(ALICE, "request prod-db 1h incident 4211")
    assert result.elapsed < FAST_ACK, f"ack took {result.elapsed * 1000:.1f} ms"
    assert result.ack["payload"] is None
    await settle(sstack)  # type: ignore[arg-type]
    req = await only_request(sstack, ALICE)  # type: ignore[arg-type]
    assert req.role == "prod-db" and req.reason == "incident 4211"
    msg = await approval_message(sstack)  # type: ignore[arg-type]
    assert req.id in all_text(msg) and "<@U0ALICE>" in all_text(msg)
    [reply] = sstack.slack.ephemerals(ALICE)
    assert req.id in all_text(reply), "the answer goes to the command's response_url, as in HTTP mode"
    assert _requests_counted(sstack, "200") == 1
    assert sstack.bot.metrics.registry.get_sample_value("accessbot_slack_ack_seconds_count") == 1


async def test_an_approve_click_over_socket_mode_grants_access_at_cloudflare(sstack: SocketStack) -> None:
    await _file_request(sstack)
    msg = await approval_message(sstack)  # type: ignore[arg-type]
    assert ALICE_EMAIL not in emails(sstack)  # type: ignore[arg-type]
    result = await sstack.driver.socket_click(BOB, msg, APPROVE)
    assert result.elapsed < FAST_ACK and result.ack["payload"] is None
    await settle(sstack)  # type: ignore[arg-type]
    assert ALICE_EMAIL in emails(sstack)  # type: ignore[arg-type]
    [grant] = await grants(sstack, requester=ALICE)  # type: ignore[arg-type]
    assert grant.state is GrantState.ACTIVE
    assert "approved" in all_text(sstack.slack.ephemerals(BOB)[-1]).lower()


async def test_a_retried_events_api_delivery_is_processed_once(sstack: SocketStack) -> None:
    event = {"type": "app_home_opened", "user": ALICE, "channel": sstack.slack.dm_channel(ALICE), "tab": "home"}
    first = await sstack.driver.socket_event(event, event_id="Ev0SOCKET01")
    await settle(sstack)  # type: ignore[arg-type]
    assert sstack.slack.count("views.publish") == 1 and sstack.slack.home(ALICE) is not None
    retry = await sstack.driver.socket_event(event, event_id="Ev0SOCKET01", retry_attempt=1)
    await settle(sstack)  # type: ignore[arg-type]
    assert first.ack and retry.ack, "the retry is acknowledged (so Slack stops), just not processed"
    assert sstack.slack.socket_envelopes[-1]["retry_attempt"] == 1
    assert sstack.slack.count("views.publish") == 1
    assert _requests_counted(sstack, "duplicate") == 1
    # a different event is processed as usual
    await sstack.driver.socket_event(event, event_id="Ev0SOCKET02")
    await settle(sstack)  # type: ignore[arg-type]
    assert sstack.slack.count("views.publish") == 2


async def test_a_modal_submission_over_socket_mode_gets_its_field_errors_in_the_ack(sstack: SocketStack) -> None:
    await sstack.driver.socket_slash(ALICE, "")
    await settle(sstack)  # type: ignore[arg-type]
    [modal] = sstack.slack.modals(ALICE)
    values = {
        "role": {"value": {"type": "static_select", "selected_option": {
            "text": {"type": "plain_text", "text": "prod-db"}, "value": "prod-db"}}},
        "duration": {"value": {"type": "plain_text_input", "value": "2x"}},
        "reason": {"value": {"type": "plain_text_input", "value": "from the modal"}},
    }
    result = await sstack.driver.socket_view_submission(ALICE, modal, values)
    payload = result.ack["payload"]
    assert payload and payload["response_action"] == "errors" and "duration" in payload["errors"]
    await settle(sstack)  # type: ignore[arg-type]
    assert await audit(sstack, "request.created") == []  # type: ignore[arg-type]
    assert modal["id"] not in sstack.slack.closed_view_ids, "the modal stays open to show the errors"

    values["duration"] = {"value": {"type": "plain_text_input", "value": "2h"}}
    result = await sstack.driver.socket_view_submission(ALICE, modal, values)
    assert result.ack["payload"] is None and modal["id"] in sstack.slack.closed_view_ids
    await wait_until(lambda: audit(sstack, "request.created"), 5, "the request filed from the modal")  # type: ignore[arg-type]


# ---- connection life --------------------------------------------------------------------------------------


async def test_after_slack_asks_it_to_disconnect_the_bot_reconnects_and_keeps_working(sstack: SocketStack) -> None:
    slack = sstack.slack
    await slack.socket_disconnect()
    await slack.socket_wait_connected(count=2, timeout=10)
    await wait_until(lambda: slack.socket_connections()[0]["closed"] is not None, 5, "the old connection closed")
    assert len(slack.calls_to("apps.connections.open")) == 2, "a fresh URL for the new connection"
    await wait_until(sstack.socket.connected, 5, "the bot's side of the new connection")

    req_id = await _file_request(sstack)
    assert slack.socket_envelopes[-1]["connection"] == 2
    msg = await approval_message(sstack)  # type: ignore[arg-type]
    assert req_id in all_text(msg)


async def test_a_dropped_connection_is_reopened_and_keeps_working(sstack: SocketStack) -> None:
    slack = sstack.slack
    await slack.socket_drop()
    await slack.socket_wait_connected(count=2, timeout=15)
    await wait_until(sstack.socket.connected, 5, "the bot's side of the new connection")
    await _file_request(sstack)
    assert slack.socket_envelopes[-1]["connection"] == 2


async def test_healthz_and_metrics_are_still_served_on_the_http_port(sstack: SocketStack) -> None:
    await _file_request(sstack)
    async with aiohttp.ClientSession() as http:
        async with http.get(sstack.http_url + "/healthz") as resp:
            assert resp.status == 200 and await resp.json() == {"ok": True}
        async with http.get(sstack.http_url + "/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
    assert 'accessbot_slack_requests_total{outcome="200"} 1.0' in text
    assert "accessbot_slack_ack_seconds_bucket" in text
    assert "xapp-" not in text and SLACK_TOKEN not in text


async def test_in_socket_mode_the_http_slack_endpoint_refuses_every_caller(sstack: SocketStack) -> None:
    # signed with the secret the HTTP-mode tests use: without SLACK_SIGNING_SECRET no secret is valid
    http_driver = SlackDriver(sstack.http_url, SIGNING_SECRET, sstack.slack)
    try:
        result = await http_driver.slash(ALICE, "request prod-db 1h incident 4211")
    finally:
        await http_driver.close()
    assert result.status == 401
    await settle(sstack)  # type: ignore[arg-type]
    assert await audit(sstack, "request.created") == []  # type: ignore[arg-type]
    assert len(await audit(sstack, "auth.rejected")) == 1  # type: ignore[arg-type]


# ---- shutdown -------------------------------------------------------------------------------------------------


async def test_while_shutting_down_envelopes_are_not_acknowledged_so_slack_redelivers_them(
        sstack: SocketStack) -> None:
    sstack.ingress.close()
    with pytest.raises(TimeoutError):
        await sstack.driver.socket_slash(ALICE, "request prod-db 1h incident 4211", ack_timeout=0.3)
    await settle(sstack)  # type: ignore[arg-type]
    assert await audit(sstack, "request.created") == []  # type: ignore[arg-type]
    assert sstack.slack.socket_acks == []
    assert _requests_counted(sstack, "shutting_down") == 1


async def test_shutdown_waits_for_a_listener_still_working_after_its_ack(sstack: SocketStack) -> None:
    sstack.slack.delay_next("response_url", 0.5)  # the command's answer is slow to post
    result = await sstack.driver.socket_slash(ALICE, "request prod-db 1h incident 4211")
    assert result.elapsed < FAST_ACK
    in_flight = sstack.ingress.in_flight
    assert in_flight, "the listener is still working after the ack"
    # what Server.stop does first
    sstack.ingress.close()
    await sstack.ingress.drain()
    assert not in_flight
    [reply] = sstack.slack.ephemerals(ALICE)
    assert (await only_request(sstack, ALICE)).id in all_text(reply)  # type: ignore[arg-type]
