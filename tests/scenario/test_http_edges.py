"""The HTTP edge: /slack/events is closed in Socket Mode; bodies that are not UTF-8, too large or too slow
are refused with a 4xx (and the unsigned ones audited) instead of a 500 or a held connection."""

from __future__ import annotations

import asyncio
import time

from bot.simulators.slack_driver import FORM
from bot.simulators.stack import SIGNING_SECRET, Stack
from bot.web_limits import Limits, limits_middleware
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import ALICE, all_requests, audit, grants, settle


async def test_in_socket_mode_slack_events_refuses_even_a_correctly_signed_request(make_stack: StackFactory) -> None:
    stack = await make_stack(socket_mode=True, settings_overrides={"slack_signing_secret": SIGNING_SECRET})
    assert stack.bot.settings.socket_mode and stack.bot.settings.slack_signing_secret is not None
    resp = await stack.driver.slash(ALICE, "request staging 1h")
    assert resp.status == 401, resp
    await settle(stack)
    assert await grants(stack) == [] and stack.slack.ephemerals(ALICE) == []
    [rejected] = await audit(stack, "auth.rejected")
    assert "Socket Mode" in rejected["details"]["why"]


async def test_an_unsigned_body_that_is_not_utf8_is_a_401_and_audited(stack: Stack) -> None:
    resp = await stack.driver.raw(b"token=\xff\xfe&user_id=U0ALICE&text=\xc3", {"Content-Type": FORM})
    assert resp.status == 401
    [rejected] = await audit(stack, "auth.rejected")
    assert rejected["details"]["source"] == "slack" and rejected["details"]["claimed_user"] == ALICE


async def test_a_signed_body_that_is_not_utf8_is_a_400_and_audited(stack: Stack) -> None:
    body = b"command=%2Faccess&user_id=U0ALICE&text=\xff"
    resp = await stack.driver.raw(body, {"Content-Type": FORM, **stack.driver.sign(body)})
    assert resp.status == 400
    [rejected] = await audit(stack, "auth.rejected")
    assert "not UTF-8" in rejected["details"]["why"]
    assert await all_requests(stack) == []


async def test_a_signed_body_of_an_unexpected_content_type_is_a_400(stack: Stack) -> None:
    body = b"command=/access&user_id=U0ALICE&text=request staging 1h"
    resp = await stack.driver.raw(body, {"Content-Type": "text/plain", **stack.driver.sign(body)})
    assert resp.status == 400 and await grants(stack) == []


async def test_a_body_larger_than_the_route_allows_is_refused_from_its_length(stack: Stack) -> None:
    big = b"x" * (Limits().slack_body + 1)
    resp = await stack.driver.raw(big, {"Content-Type": FORM})
    assert resp.status == 413
    assert await audit(stack, "auth.rejected") == [], "refused before anything is read or audited"


async def _raw_http(port: int, head: bytes, body: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    await writer.drain()
    return reader, writer


async def test_a_chunked_body_growing_past_the_limit_is_refused(stack: Stack) -> None:
    port = stack.server.port
    assert port is not None
    reader, writer = await _raw_http(port, b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                           b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
    chunk = b"a" * 65536
    for _ in range(3):
        writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    assert b" 413 " in status, status
    writer.close()


async def test_a_slow_body_is_cut_after_the_deadline() -> None:
    from aiohttp import web

    middleware, handler_args = limits_middleware(Limits(body_seconds=0.5, linger_seconds=0.1))

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    app = web.Application(middlewares=[middleware], handler_args=handler_args)
    app.router.add_post("/slack/events", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    try:
        started = time.monotonic()
        head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        reader, writer = await _raw_http(port, head, b"a" * 10)
        status = await asyncio.wait_for(reader.readline(), 5)
        assert b" 408 " in status, status
        assert await asyncio.wait_for(reader.read(), 5) is not None  # then the connection is closed
        assert time.monotonic() - started < 3
        writer.close()
    finally:
        await runner.cleanup()


async def test_beyond_the_request_cap_new_requests_are_answered_503_at_once() -> None:
    from aiohttp import web

    middleware, handler_args = limits_middleware(Limits(max_requests=2, body_seconds=5))
    app = web.Application(middlewares=[middleware], handler_args=handler_args)

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_post("/slack/events", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    try:
        stalled = [await _raw_http(port, head, b"a") for _ in range(2)]
        await asyncio.sleep(0.2)
        reader, writer = await _raw_http(port, head, b"a" * 100)
        status = await asyncio.wait_for(reader.readline(), 2)
        assert b" 503 " in status, status
        for _, w in stalled + [(reader, writer)]:
            w.close()
    finally:
        await runner.cleanup()
