"""The logs an operator reads: one JSON line per Slack request, state change and Cloudflare call, tied together
by the request and grant ids; no secret at any level, even when every service echoes the credentials back."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import bot.simulators.stack as stack_module
from bot.logging_setup import ERROR_ONLY_LOGGERS, QUIET_LOGGERS, setup_logging
from bot.simulators.access_sim import AccessSimulator
from bot.simulators.stack import PROD_GROUP, STAGING_GROUP, Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVE,
    BOB,
    MALLORY,
    advance,
    all_requests,
    approval_message,
    click,
    grants,
    settle,
    slash,
)

BOT_TOKEN = "xoxb-7000000001-7000000002-LEAKCHECKbotTOKEN"
CF_TOKEN = "LEAKCHECKcloudflareAPItoken0123456789"
SIGNING_SECRET = "LEAKCHECKsigningSECRET0123456789abcdef"
REASON = "LEAKCHECK-reason-4211"
AUD = "aud-accessbot-log-test"


def _echo_credentials(real: Any) -> Any:
    """`web.Application` whose apps answer every request with its credential headers echoed back
    (the case of a proxy or API that reflects them: httpcore and slack_sdk print response headers)."""

    async def echo(request: web.Request, response: web.StreamResponse) -> None:
        for name in ("Authorization", "Cf-Access-Jwt-Assertion"):
            if name in request.headers:
                response.headers["X-Echo-" + name] = request.headers[name]

    def make(*args: Any, **kwargs: Any) -> web.Application:
        app = real(*args, **kwargs)
        app.on_response_prepare.append(echo)
        return app

    return make


@dataclass
class Logged:
    """A running stack with /api on, logging at DEBUG into `buffer`."""

    stack: Stack
    access: AccessSimulator
    buffer: io.StringIO
    jwts: list[str]

    def lines(self) -> list[str]:
        return [line for line in self.buffer.getvalue().splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        token = self.access.token(ALICE_EMAIL, aud=[AUD])
        self.jwts.append(token)
        async with aiohttp.ClientSession() as http, http.request(
                method, self.stack.url + path, headers={"Cf-Access-Jwt-Assertion": token},
                data=json.dumps(body).encode() if body is not None else None) as resp:
            return resp.status, await resp.json()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging changes the root logger and library loggers; put them back after the test."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    names = (*QUIET_LOGGERS, *ERROR_ONLY_LOGGERS)
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


async def _start(make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch, debug_loggers: str) -> Logged:
    monkeypatch.setattr(stack_module, "SLACK_TOKEN", BOT_TOKEN)
    monkeypatch.setattr(stack_module, "CF_TOKEN", CF_TOKEN)
    monkeypatch.setattr(stack_module, "SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setattr(web, "Application", _echo_credentials(web.Application))
    buffer = io.StringIO()
    setup_logging("DEBUG", "json", debug_loggers=debug_loggers, secrets=[BOT_TOKEN, CF_TOKEN, SIGNING_SECRET],
                  stream=buffer)
    access = AccessSimulator(aud=AUD)
    team = await access.start()
    stack = await make_stack(settings_overrides={"accessbot_reconcile_interval": timedelta(0),
                                                 "cf_access_team_domain": team, "cf_access_aud": AUD})
    return Logged(stack, access, buffer, [])


@pytest.fixture
async def logged(make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch, restore_logging: None,
                 clock: Any) -> AsyncIterator[Logged]:
    """The stack at DEBUG with the libraries kept quiet (the default)."""
    out = await _start(make_stack, monkeypatch, "")
    yield out
    await out.access.stop()


async def _whole_life(logged: Logged, clock: Any) -> dict[str, Any]:
    """Request → approve → grant → expiry; then a request over /api (a JWT) → grant → revoke in Slack."""
    stack = logged.stack
    await slash(stack, ALICE, f"request prod-db 1h {REASON}")
    msg = await approval_message(stack)
    await click(stack, BOB, msg, APPROVE)
    [first] = await grants(stack, requester=ALICE)
    await advance(stack, clock, timedelta(hours=1, seconds=1))
    status, body = await logged.api("POST", "/api/requests", {"role": "staging", "duration": "2h",
                                                              "reason": REASON})
    assert status == 201, body
    await advance(stack, clock, timedelta(seconds=1))
    [second] = [g for g in await grants(stack, requester=ALICE) if g.id != first.id]
    await slash(stack, ALICE, f"revoke {second.id} done")
    await advance(stack, clock, timedelta(seconds=1))
    return {"first": first, "second": second, "api_request": body["id"]}


def _assert_no_secret(lines: list[str], jwts: list[str]) -> None:
    assert lines, "nothing was logged"
    secrets = {"bot token": BOT_TOKEN, "Cloudflare token": CF_TOKEN, "signing secret": SIGNING_SECRET,
               "bot token's secret part": BOT_TOKEN.split("-", 3)[3]}
    for i, jwt in enumerate(jwts):
        secrets[f"JWT {i}"] = jwt
        secrets[f"JWT {i} signature"] = jwt.rsplit(".", 1)[1]
    for number, line in enumerate(lines):
        for what, value in secrets.items():
            assert value not in line, f"line {number} holds the {what}: {line[:500]}"


async def test_at_debug_no_line_holds_a_token_the_signing_secret_a_jwt_or_a_sql_parameter(
        logged: Logged, clock: Any) -> None:
    await _whole_life(logged, clock)
    lines = logged.lines()
    _assert_no_secret(lines, logged.jwts)
    assert not any(REASON in line for line in lines), "a reason (a SQL parameter) was logged"
    loggers = {r["logger"] for r in logged.records()}
    assert not any(name.split(".")[0] in ("httpcore", "aiosqlite", "asyncpg", "sqlalchemy", "slack_sdk")
                   for name in loggers), loggers


async def test_libraries_named_in_accessbot_log_debug_speak_and_their_lines_are_masked(
        make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch, restore_logging: None, clock: Any) -> None:
    logged = await _start(make_stack, monkeypatch, ",".join(QUIET_LOGGERS + ERROR_ONLY_LOGGERS))
    try:
        await _whole_life(logged, clock)
    finally:
        await logged.access.stop()
    records = logged.records()
    loggers = {r["logger"].split(".")[0] for r in records}
    assert {"httpcore", "slack_sdk"} <= loggers, loggers
    assert "aiosqlite" in loggers or "asyncpg" in loggers or "sqlalchemy" in loggers, loggers
    echoed = [line for line in logged.lines() if "X-Echo-Authorization" in line or "x-echo-authorization" in line]
    assert echoed, "the echoed credentials never reached a log line, so this test proves nothing"
    assert any("[secret]" in line or "[redacted]" in line for line in echoed), echoed[:3]
    _assert_no_secret(logged.lines(), logged.jwts)


async def test_each_slack_request_state_change_and_cloudflare_call_is_one_line_with_its_ids(
        logged: Logged, clock: Any) -> None:
    made = await _whole_life(logged, clock)
    first, second = made["first"], made["second"]
    records = logged.records()
    for r in records:
        assert {"at", "level", "logger", "msg"} <= set(r), r

    slack = [r for r in records if r["msg"] == "slack request"]
    assert [(r["kind"], r["user"], r["name"]) for r in slack] == [
        ("command", ALICE, "/access request"), ("action", BOB, APPROVE), ("command", ALICE, "/access revoke")]
    for r in slack:
        assert r["outcome"] == "ok" and isinstance(r["ms"], int | float) and r["ms"] >= 0 and r["trace_id"], r
    assert slack[0]["request_id"] == slack[1]["request_id"] == first.request_id
    assert slack[2]["grant_id"] == second.id

    audit = [r for r in records if r["msg"] == "audit"]
    by_action = {(r["action"], r["grant_id"] or r["request_id"]): r for r in audit}
    for action, key in [("request.created", first.request_id), ("request.approved", first.request_id),
                        ("grant.applied", first.id), ("grant.revoked", first.id), ("request.created",
                        second.request_id), ("grant.applied", second.id), ("grant.revoked", second.id)]:
        assert (action, key) in by_action, (action, key, sorted(by_action))
    assert by_action[("grant.applied", first.id)]["request_id"] == first.request_id
    assert by_action[("grant.revoked", second.id)]["request_id"] == second.request_id == made["api_request"]
    # the Slack request that filed the request and its state change share a trace id
    assert by_action[("request.created", first.request_id)]["trace_id"] == slack[0]["trace_id"]

    calls = [r for r in records if r["msg"] == "cloudflare call"]
    for grant, group in ((first, PROD_GROUP), (second, STAGING_GROUP)):
        mine = [r for r in calls if r.get("grant_id") == grant.id and r["group"] == group]
        assert [r["method"] for r in mine] == ["GET", "PUT", "GET", "PUT"], mine  # apply, then remove
        for r in mine:
            assert r["status"] == 200 and isinstance(r["ms"], int | float) and r["request_id"] == grant.request_id
    sessions = [r for r in calls if r["method"] == "POST"]
    assert [r["grant_id"] for r in sessions] == [first.id] and sessions[0]["group"] is None


@pytest.fixture
def log_buffer(restore_logging: None) -> io.StringIO:
    """Logging at INFO, as JSON, into a buffer."""
    buffer = io.StringIO()
    setup_logging("INFO", "json", stream=buffer)
    return buffer


def _slack_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, buffer.getvalue().splitlines()) if r["msg"] == "slack request"]


async def test_refused_forged_and_repeated_slack_requests_each_get_their_line(
        stack: Stack, log_buffer: io.StringIO) -> None:
    await slash(stack, ALICE, "request prod-db 1h incident")
    await slash(stack, ALICE, "request secrets 1h incident")  # not a requester of that role: refused
    msg = await approval_message(stack)
    await click(stack, MALLORY, msg, APPROVE)  # not an approver: refused
    forged = await stack.driver.raw(b"command=/access&user_id=U0MALLORY&text=list",
                                    {"Content-Type": "application/x-www-form-urlencoded",
                                     "X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"})
    assert forged.status == 401
    event = {"type": "app_home_opened", "user": ALICE, "channel": stack.slack.dm_channel(ALICE), "tab": "home"}
    for _ in range(2):
        assert (await stack.driver.event(event, event_id="Ev0LOGS0001")).status == 200
        await settle(stack)
    lines = _slack_lines(log_buffer)
    summary = [(r["kind"], r["user"], r["outcome"]) for r in lines]
    assert summary == [("command", ALICE, "ok"), ("command", ALICE, "refused"), ("action", MALLORY, "refused"),
                       ("command", None, "rejected"), ("event", ALICE, "ok"), ("event", None, "duplicate")], lines
    assert lines[2]["request_id"] == lines[0]["request_id"]
    assert lines[3]["claimed_user"] == MALLORY and lines[3]["why"] == "stale or missing timestamp"
    assert lines[5]["delivery"] == "event:Ev0LOGS0001" and lines[4]["name"] == "app_home_opened"


async def test_socket_mode_requests_get_the_same_lines(database_url: str, clock: Any,
                                                       log_buffer: io.StringIO) -> None:
    from tests.scenario.test_socket_mode import start_socket_stack

    sstack = await start_socket_stack(database_url, clock)
    try:
        await sstack.driver.socket_slash(ALICE, "request prod-db 1h incident 4211")
        await settle(sstack)  # type: ignore[arg-type]  # a line is written when its request is done: keep the order
        event = {"type": "app_home_opened", "user": ALICE, "channel": sstack.slack.dm_channel(ALICE), "tab": "home"}
        await sstack.driver.socket_event(event, event_id="Ev0SOCKLOG1")
        await settle(sstack)  # type: ignore[arg-type]
        await sstack.driver.socket_event(event, event_id="Ev0SOCKLOG1", retry_attempt=1)
        await settle(sstack)  # type: ignore[arg-type]
        [req] = [r.id for r in await all_requests(sstack.stack)]  # type: ignore[arg-type]
    finally:
        await sstack.stop()
    lines = _slack_lines(log_buffer)
    assert [(r["transport"], r["kind"], r["user"], r["outcome"]) for r in lines] == [
        ("socket", "command", ALICE, "ok"), ("socket", "event", ALICE, "ok"), ("socket", "event", None, "duplicate")]
    assert lines[0]["request_id"] == req and lines[0]["name"] == "/access request" and lines[0]["ms"] >= 0

