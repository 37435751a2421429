"""response_url replies share one session and its connections; failures map onto the domain's errors."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.domain.errors import PermanentError, TransientError
from bot.slack.response_urls import ResponseUrls, ephemeral


@pytest.fixture
async def hooks() -> TestServer:
    """A response_url endpoint recording each POST's body and the client's port (one port: one connection)."""
    seen: list[tuple[int, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen.append((peer[1] if peer else 0, await request.json()))
        return web.json_response({"ok": True}, status=404 if request.path.endswith("used") else 200)

    app = web.Application()
    app.router.add_post("/hooks/{tag}", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    server.seen = seen  # type: ignore[attr-defined]
    yield server
    await server.close()


async def test_replies_reuse_one_session_and_one_connection(hooks: TestServer) -> None:
    responses = ResponseUrls(timeout=5)
    try:
        for i in range(3):
            assert await responses.post(str(hooks.make_url(f"/hooks/t{i}")), ephemeral(f"reply {i}")) == 200
        seen = hooks.seen  # type: ignore[attr-defined]
        assert [body["text"] for _, body in seen] == ["reply 0", "reply 1", "reply 2"]
        assert all(body["response_type"] == "ephemeral" and body["replace_original"] is False for _, body in seen)
        assert len({port for port, _ in seen}) == 1, "each reply opened a new connection"
    finally:
        await responses.aclose()
    assert responses._session is None  # noqa: SLF001 - closed at shutdown


async def test_a_refused_url_is_returned_not_raised(hooks: TestServer) -> None:
    responses = ResponseUrls(timeout=5)
    try:
        assert await responses.post(str(hooks.make_url("/hooks/used")), ephemeral("late")) == 404
    finally:
        await responses.aclose()


async def test_a_url_that_is_not_http_is_refused_without_a_request() -> None:
    responses = ResponseUrls(timeout=5)
    with pytest.raises(PermanentError):
        await responses.post("file:///etc/passwd", ephemeral("x"))
    assert responses.posts == 0


async def test_an_unreachable_response_url_is_a_transient_error(unused_tcp_port: int) -> None:
    responses = ResponseUrls(timeout=2)
    try:
        with pytest.raises(TransientError):
            await responses.post(f"http://127.0.0.1:{unused_tcp_port}/hooks/x", ephemeral("x"))
    finally:
        await responses.aclose()
