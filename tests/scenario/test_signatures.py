"""Every request's signature and timestamp are checked: 401 otherwise, nothing happens, the rejection is
audited, and a flood cannot fill the audit log (spec §4)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import urllib.parse

import pytest

from bot.simulators.slack_driver import FORM
from bot.simulators.stack import Stack
from tests.scenario.helpers import ALICE, all_requests, audit, grants, settle


def _slash_body(stack: Stack, text: str = "request staging 1h") -> bytes:
    fields = {
        "token": "verification_token", "team_id": "T0ACCESS", "channel_id": "C0GENERAL", "user_id": ALICE,
        "user_name": "alice", "command": "/access", "text": text, "api_app_id": stack.slack.app_id,
        "response_url": stack.slack.response_url("forged", channel="C0GENERAL", user_id=ALICE),
        "trigger_id": stack.slack.new_trigger_id(ALICE),
    }
    return urllib.parse.urlencode(fields).encode()


async def _nothing_happened(stack: Stack) -> None:
    await settle(stack)
    assert await all_requests(stack) == [] and await grants(stack) == []
    assert stack.cloudflare.calls == []
    assert [m for m in stack.slack.messages() if m["channel"] != "C0AUDIT1"] == []
    assert stack.slack.ephemerals() == []
    assert await audit(stack, "request.created") == []


def _bad_signature(stack: Stack, body: bytes) -> dict[str, str]:
    headers = stack.driver.sign(body)
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    return headers


def _wrong_secret(stack: Stack, body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(b"not-the-secret", f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def _stale(stack: Stack, body: bytes) -> dict[str, str]:
    return stack.driver.sign(body, timestamp=int(time.time()) - 6 * 60)  # correctly signed, 6 minutes old


def _future(stack: Stack, body: bytes) -> dict[str, str]:
    return stack.driver.sign(body, timestamp=int(time.time()) + 6 * 60)


def _missing(stack: Stack, body: bytes) -> dict[str, str]:
    return {}


FORGERIES = [
    ("bad-signature", _bad_signature, "bad signature"),
    ("wrong-secret", _wrong_secret, "bad signature"),
    ("stale-timestamp", _stale, "stale"),
    ("future-timestamp", _future, "stale"),
    ("no-signature", _missing, ""),
]


async def test_a_forged_or_stale_request_gets_401_nothing_happens_and_it_is_audited(
        stack: Stack, subtests: pytest.Subtests) -> None:
    for case, forge, why in FORGERIES:  # fewer than the 10 a minute that are audited
        with subtests.test(case):
            before = len(await audit(stack, "auth.rejected"))
            body = _slash_body(stack)
            resp = await stack.driver.raw(body, {"Content-Type": FORM, **forge(stack, body)})
            assert resp.status == 401
            await _nothing_happened(stack)
            rejected = (await audit(stack, "auth.rejected"))[before:]
            assert len(rejected) == 1
            assert rejected[0]["details"]["source"] == "slack" and why in rejected[0]["details"]["why"]
            assert rejected[0]["details"]["claimed_user"] == ALICE


async def test_the_same_request_correctly_signed_is_accepted(stack: Stack) -> None:
    body = _slash_body(stack)
    resp = await stack.driver.raw(body, {"Content-Type": FORM, **stack.driver.sign(body)})
    assert resp.status == 200
    await settle(stack)
    assert len(await grants(stack)) == 1 and await audit(stack, "auth.rejected") == []


async def test_a_flood_of_forged_requests_is_audited_at_most_about_ten_times_a_minute(stack: Stack) -> None:
    body = _slash_body(stack)
    started = time.time()
    responses = await asyncio.gather(*(stack.driver.raw(body, {"Content-Type": FORM, **_bad_signature(stack, body)})
                                       for _ in range(50)))
    ended = time.time()
    assert {r.status for r in responses} == {401}
    await _nothing_happened(stack)
    rejected = await audit(stack, "auth.rejected")
    windows = int(ended // 60) - int(started // 60) + 1  # the limit is per clock minute
    assert 1 <= len(rejected) <= 10 * windows, len(rejected)
