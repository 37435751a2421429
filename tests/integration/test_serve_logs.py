"""`accessbot serve` at LOG_LEVEL=DEBUG, as a real process: its lines are JSON, carry no secret, and the
libraries that print SQL parameters speak only when ACCESSBOT_LOG_DEBUG names them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.polling import eventually
from bot.simulators.slack_driver import SlackDriver
from tests.integration.example_serve import example_serve
from tests.integration.test_cli import BOT_TOKEN, CF_TOKEN, SIGNING_SECRET

REASON = "LEAKCHECK-serve-reason"


async def _serve_once(tmp_path: Path, **env: str) -> list[dict[str, Any]]:
    """Start serve against the simulators, file one request by slash command, stop it; its log lines."""
    async with example_serve(tmp_path, LOG_LEVEL="DEBUG", LOG_FORMAT="json", **env) as running:
        slack, serve = running.slack, running.serve
        url = await asyncio.to_thread(serve.start)
        async with SlackDriver(url, SIGNING_SECRET, slack) as driver:
            assert (await driver.slash("U0ALICE", f"request staging 1h {REASON}")).status == 200
            try:
                await eventually(lambda: slack.ephemerals("U0ALICE"), 20, "alice's reply", step=0.05)
            except AssertionError:
                raise AssertionError(serve.log_path.read_text()[-3000:]) from None
        async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as resp:
            assert resp.status == 200
        assert await asyncio.to_thread(serve.terminate) == 0
    text = serve.log_path.read_text()
    for secret in (BOT_TOKEN, CF_TOKEN, SIGNING_SECRET):
        assert secret not in text
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("named", [False, True])
async def test_serve_at_debug_keeps_sql_parameters_out_unless_the_library_is_named(tmp_path: Path,
                                                                                    named: bool) -> None:
    records = await _serve_once(tmp_path, **({"ACCESSBOT_LOG_DEBUG": "aiosqlite"} if named else {}))
    loggers = {r["logger"] for r in records}
    [slack] = [r for r in records if r["msg"] == "slack request"]
    assert slack["kind"] == "command" and slack["user"] == "U0ALICE" and slack["request_id"].startswith("r-")
    assert "request.created" in [r["action"] for r in records if r["msg"] == "audit" and r["request_id"] == slack[
        "request_id"]]
    assert any("listening on" in r["msg"] for r in records)
    assert any(r["msg"].startswith("start-up heap frozen out of the collector (") for r in records)
    if named:
        assert "aiosqlite" in loggers, loggers
    else:
        assert not loggers & {"aiosqlite", "sqlalchemy.engine.Engine", "httpcore.http11", "httpcore.connection"}
        assert not any(REASON in json.dumps(r) for r in records)
