"""/healthz answers 503 with the reason while Slack or Cloudflare reject the bot's credentials at run time, and
/metrics shows it; both recover once a later call succeeds."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bot.simulators.stack import CF_TOKEN, Stack
from tests.scenario.helpers import ALICE, grants, settle, slash, wait_until


async def _healthz(stack: Stack) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(stack.url + "/healthz") as resp:
        return resp.status, json.loads(await resp.text())


async def _credentials_ok(stack: Stack) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(stack.url + "/metrics") as resp:
        text = await resp.text()
    prefix = 'accessbot_credentials_ok{upstream="'
    return {line[len(prefix):].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith(prefix)}


async def test_a_slack_token_revoked_at_run_time_makes_healthz_503_until_slack_accepts_it_again(stack: Stack) -> None:
    await slash(stack, ALICE, "request staging 1h")
    assert (await _healthz(stack))[0] == 200
    assert await _credentials_ok(stack) == {"slack": 1, "cloudflare": 1}
    (grant,) = await grants(stack)
    stack.slack.token_revoked = True
    await slash(stack, ALICE, f"revoke {grant.id}")  # the DM that tells Alice fails: token_revoked
    status, body = await _healthz(stack)
    assert status == 503, body
    assert body["ok"] is False and "slack" in body["error"] and "token_revoked" in body["credentials"]["slack"]
    assert await _credentials_ok(stack) == {"slack": 0, "cloudflare": 1}
    stack.slack.token_revoked = False
    await slash(stack, ALICE, "request staging 1h")  # the approval DM goes out
    await settle(stack)
    assert await _healthz(stack) == (200, {"ok": True})
    assert await _credentials_ok(stack) == {"slack": 1, "cloudflare": 1}


async def test_a_cloudflare_token_that_loses_its_permission_makes_healthz_503_until_a_call_succeeds(
        stack: Stack) -> None:
    stack.cloudflare.token = "cf-rotated-elsewhere"
    await slash(stack, ALICE, "request staging 1h")  # the group PUT is refused: 403, 10000 Authentication error
    status, body = await _healthz(stack)
    assert status == 503, body
    assert "cloudflare" in body["error"] and "10000" in body["credentials"]["cloudflare"]
    assert CF_TOKEN not in json.dumps(body)
    assert await _credentials_ok(stack) == {"slack": 1, "cloudflare": 0}
    stack.cloudflare.token = CF_TOKEN
    await slash(stack, ALICE, "request staging 1h")  # the first grant failed; this one's PUT goes through
    await settle(stack)
    assert (await _healthz(stack))[0] == 200
    assert await _credentials_ok(stack) == {"slack": 1, "cloudflare": 1}


async def test_with_no_traffic_healthz_probes_a_rejecting_upstream_again_and_recovers(stack: Stack) -> None:
    stack.bot.health.recheck_interval = 0.0
    stack.cloudflare.token = "cf-rotated-elsewhere"
    await slash(stack, ALICE, "request staging 1h")
    assert (await _healthz(stack))[0] == 503
    stack.cloudflare.token = CF_TOKEN  # the permission is given back at Cloudflare; nobody asks for anything
    gets = stack.cloudflare.count("GET")
    await wait_until(lambda: _status_is(stack, 200), what="healthz back to 200")
    assert stack.cloudflare.count("GET") > gets  # a GET of a role's group was the later call that succeeded


async def _status_is(stack: Stack, status: int) -> bool:
    return (await _healthz(stack))[0] == status
