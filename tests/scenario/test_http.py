"""`GET /healthz` and `GET /metrics` (spec §1)."""

from __future__ import annotations

import json

import aiohttp

from bot.simulators.stack import CF_TOKEN, SIGNING_SECRET, SLACK_TOKEN, Stack
from tests.scenario.helpers import ALICE, slash


async def _get(stack: Stack, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(stack.url + path) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_healthz_answers_ok_once_the_database_answers_and_the_scheduler_runs(stack: Stack) -> None:
    status, content_type, body = await _get(stack, "/healthz")
    assert status == 200 and "json" in content_type
    assert json.loads(body) == {"ok": True}


async def test_metrics_are_prometheus_text_with_accessbot_metrics_and_no_secrets(stack: Stack) -> None:
    await slash(stack, ALICE, "request staging 1h")
    status, content_type, body = await _get(stack, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    names = {line.split("{")[0].split(" ")[0] for line in body.splitlines() if line and not line.startswith("#")}
    assert names and all(n.startswith("accessbot_") for n in names), names
    assert 'accessbot_grants{state="active"} 1.0' in body
    assert "accessbot_slack_requests_total" in body and "accessbot_slack_ack_seconds_bucket" in body
    for secret in (SLACK_TOKEN, CF_TOKEN, SIGNING_SECRET):
        assert secret not in body
