"""The Slack simulator behaves like Slack's Web API for a real slack_sdk client, and the driver
sends requests exactly as Slack does (signed, in Slack's shapes)."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.simulators.block_kit import block_kit_errors
from bot.simulators.slack_driver import SlackDriver
from bot.simulators.slack_sim import SlackSimulator

SAMPLES = Path(__file__).resolve().parents[1] / "reference" / "slack" / "samples"
SECRET = "test-signing-secret"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _approval_blocks() -> list[dict[str, Any]]:
    return [
        _section("*Ann* asks for *grafana-admin* for 2h"),
        {
            "type": "actions",
            "block_id": "decide",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": "r-91QX",
                    "style": "primary",
                },
                {
                    "type": "button",
                    "action_id": "deny",
                    "text": {"type": "plain_text", "text": "Deny"},
                    "value": "r-91QX",
                    "style": "danger",
                },
            ],
        },
    ]


@pytest.fixture
async def sim():
    async with SlackSimulator() as simulator:
        simulator.add_user("U1", "ann@example.com", "ann")
        simulator.add_user("U2", "bob@example.com", "bob")
        yield simulator


@pytest.fixture
async def client(sim):
    return AsyncWebClient(token=sim.token, base_url=sim.base_url)


class _Recorder:
    """A stand-in for the bot's endpoint: records what arrives and answers with ``reply``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.reply: web.Response | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        return self.reply or web.Response(status=200, text="")


@pytest.fixture
async def bot_endpoint():
    recorder = _Recorder()
    app = web.Application()
    app.router.add_post("/slack/events", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield recorder, f"http://{host}:{port}"
    await runner.cleanup()


@pytest.fixture
async def driver(sim, bot_endpoint):
    _, url = bot_endpoint
    d = SlackDriver(url, SECRET, sim)
    yield d
    await d.close()


def _interactive_payload(body: bytes) -> dict[str, Any]:
    return json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])


# -- Web API --------------------------------------------------------------------------------------


async def test_start_returns_an_api_base_url_and_auth_test_names_the_bot(sim, client):
    assert sim.base_url.startswith("http://127.0.0.1:") and sim.base_url.endswith("/api/")
    auth = await client.auth_test()
    assert auth["ok"] and auth["user_id"] == sim.bot_user_id and auth["team_id"] == "T0ACCESS"


async def test_posted_message_is_recorded_and_chat_update_replaces_its_blocks(sim, client):
    posted = await client.chat_postMessage(channel="C0APPROVALS", text="Ann asks", blocks=_approval_blocks())
    assert posted["channel"] == "C0APPROVALS"
    assert posted["ts"] == "1700000000.000100"
    second = await client.chat_postMessage(channel="C0APPROVALS", text="another")
    assert float(second["ts"]) > float(posted["ts"])

    [message, _] = sim.messages("C0APPROVALS")
    assert message["text"] == "Ann asks" and message["thread_ts"] is None
    assert message["blocks"][1]["elements"][0]["action_id"] == "approve"
    assert message["blocks"][0]["block_id"]  # Slack assigns one when the bot did not

    updated = await client.chat_update(
        channel="C0APPROVALS", ts=posted["ts"], text="Approved", blocks=[_section("Approved by bob")]
    )
    assert updated["ts"] == posted["ts"]
    message = sim.message("C0APPROVALS", posted["ts"])
    assert message["text"] == "Approved"
    assert [b["type"] for b in message["blocks"]] == ["section"]
    assert [u["via"] for u in message["updates"]] == ["chat.update"]


async def test_chat_update_of_an_unknown_message_or_a_user_id_channel_is_message_not_found(sim, client):
    posted = await client.chat_postMessage(channel="U1", text="hi")
    for channel, ts in (("C0APPROVALS", "1.000100"), ("U1", posted["ts"])):
        with pytest.raises(SlackApiError) as err:
            await client.chat_update(channel=channel, ts=ts, text="x")
        assert err.value.response["error"] == "message_not_found"
    await client.chat_update(channel=posted["channel"], ts=posted["ts"], text="edited")
    assert sim.dms_to("U1")[0]["text"] == "edited"


async def test_a_message_to_a_user_id_lands_in_their_dm_and_threads_are_kept(sim, client):
    opened = await client.conversations_open(users="U1")
    assert opened["channel"]["id"] == "DU1"
    parent = await client.chat_postMessage(channel="U1", text="Approved")
    assert parent["channel"] == "DU1"
    await client.chat_postMessage(channel="DU1", text="Granted", thread_ts=parent["ts"])
    assert [m["text"] for m in sim.dms_to("U1")] == ["Approved", "Granted"]
    assert [m["text"] for m in sim.thread("DU1", parent["ts"])] == ["Granted"]
    assert sim.dms_to("U2") == []
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="UNOBODY", text="hi")
    assert err.value.response["error"] == "channel_not_found"


async def test_users_info_returns_the_profile_email_and_flags(sim, client):
    sim.add_user("U9", None, "guest", is_restricted=True, tz="Europe/Paris")
    ann = (await client.users_info(user="U1"))["user"]
    assert ann["id"] == "U1" and ann["profile"]["email"] == "ann@example.com"
    assert ann["deleted"] is False and ann["is_bot"] is False and ann["is_restricted"] is False
    guest = (await client.users_info(user="U9"))["user"]
    assert (
        "email" not in guest["profile"] and guest["is_restricted"] is True and guest["tz"] == "Europe/Paris"
    )
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="UNOBODY")
    assert err.value.response["error"] == "user_not_found"


async def test_usergroups_users_list_returns_members_and_unknown_group_is_no_such_subteam(sim, client):
    sim.add_usergroup("S0ADMINS", ["U1", "U2"])
    assert (await client.usergroups_users_list(usergroup="S0ADMINS"))["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as err:
        await client.usergroups_users_list(usergroup="S0NONE")
    assert err.value.response["error"] == "no_such_subteam"


async def test_a_section_of_3001_characters_is_invalid_blocks_and_nothing_is_posted(sim, client):
    await client.chat_postMessage(channel="C1", text="ok", blocks=[_section("x" * 3000)])
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="long", blocks=[_section("x" * 3001)])
    assert err.value.response["error"] == "invalid_blocks"
    assert len(sim.messages("C1")) == 1


@pytest.mark.parametrize(
    ("blocks", "why"),
    [
        ([_section("a")] * 51, "at most 50 blocks"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "at most 150"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "plain_text"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "b" * 76}}
                    ],
                }
            ],
            "at most 75",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a",
                            "value": "v" * 2001,
                            "text": {"type": "plain_text", "text": "b"},
                        }
                    ],
                }
            ],
            "value",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a" * 256,
                            "text": {"type": "plain_text", "text": "b"},
                        }
                    ],
                }
            ],
            "action_id",
        ),
        ([{"type": "fancy"}], "not a known block type"),
        ([_section("")], "non-empty"),
    ],
    ids=[
        "51-blocks",
        "header-151",
        "header-mrkdwn",
        "button-text-76",
        "value-2001",
        "action-id-256",
        "unknown-type",
        "empty-text",
    ],
)
async def test_blocks_beyond_slacks_limits_are_invalid_blocks(client, blocks, why):
    assert any(why in e for e in block_kit_errors(blocks)), block_kit_errors(blocks)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="t", blocks=blocks)
    assert err.value.response["error"] == "invalid_blocks"


async def test_text_over_40000_characters_is_msg_too_long(client):
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="x" * 40_001)
    assert err.value.response["error"] == "msg_too_long"


async def test_a_view_may_have_100_blocks_but_not_101(sim, client):
    view = {"type": "home", "blocks": [_section("a")] * 100}
    published = await client.views_publish(user_id="U1", view=view)
    assert published["view"]["id"].startswith("V")
    assert len(sim.home("U1")["blocks"]) == 100
    with pytest.raises(SlackApiError) as err:
        await client.views_publish(user_id="U1", view={"type": "home", "blocks": [_section("a")] * 101})
    assert err.value.response["error"] == "invalid_blocks"


async def test_ratelimited_answers_429_with_retry_after_and_then_recovers(sim, client):
    sim.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"
    assert sim.messages() == []
    await client.chat_postMessage(channel="C1", text="hi")
    assert [c.method for c in sim.calls] == ["chat.postMessage", "chat.postMessage"]
    assert sim.calls[0].response == {"ok": False, "error": "ratelimited"}


async def test_other_injected_errors_answer_200_with_ok_false_and_5xx_on_request(sim, client):
    sim.fail_next("users.info", error="fatal_error")
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="U1")
    assert err.value.response.status_code == 200 and err.value.response["error"] == "fatal_error"
    sim.fail_next("users.info", error="internal_error", status=503)
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="U1")
    assert err.value.response.status_code == 503
    assert (await client.users_info(user="U1"))["ok"]


async def test_a_wrong_token_is_invalid_auth_and_an_unknown_method_is_unknown_method(sim, client):
    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(token="xoxb-wrong", base_url=sim.base_url).auth_test()
    assert err.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as err:
        await client.api_call("chat.frobnicate")
    assert err.value.response["error"] == "unknown_method"


async def test_views_open_needs_a_fresh_unused_trigger_id(sim, client):
    modal = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Request access"},
        "submit": {"type": "plain_text", "text": "Request"},
        "blocks": [_section("pick a role")],
    }
    trigger = sim.new_trigger_id("U1")
    opened = await client.views_open(trigger_id=trigger, view=modal)
    assert sim.modals("U1")[0]["id"] == opened["view"]["id"]
    with pytest.raises(SlackApiError) as err:
        await client.views_open(trigger_id=trigger, view=modal)
    assert err.value.response["error"] == "exchanged_trigger_id"
    sim.trigger_ttl = 0.0
    with pytest.raises(SlackApiError) as err:
        await client.views_open(trigger_id=sim.new_trigger_id("U1"), view=modal)
    assert err.value.response["error"] == "expired_trigger_id"
    updated = await client.views_update(
        view_id=opened["view"]["id"], view={**modal, "blocks": [_section("b")]}
    )
    assert updated["view"]["id"] == opened["view"]["id"]
    assert sim.view(opened["view"]["id"])["blocks"][0]["text"]["text"] == "b"


async def test_response_url_replaces_the_attached_message_and_otherwise_posts_ephemerals(sim, client):
    posted = await client.chat_postMessage(channel="C0APPROVALS", text="Ann asks", blocks=_approval_blocks())
    url = sim.response_url("click-1", channel="C0APPROVALS", user_id="U2", message_ts=posted["ts"])
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"text": "only you can see this"}) as r:
            assert r.status == 200
        async with http.post(url, json={"replace_original": True, "text": "Approved"}) as r:
            assert r.status == 200
        for _ in range(3):
            async with http.post(url, json={"text": "again"}) as r:
                assert r.status == 200
        async with http.post(url, json={"text": "sixth use"}) as r:
            assert r.status == 404
    assert sim.message("C0APPROVALS", posted["ts"])["text"] == "Approved"
    assert sim.message("C0APPROVALS", posted["ts"])["updates"][0]["via"] == "response_url"
    assert [e["text"] for e in sim.ephemerals("U2")][:1] == ["only you can see this"]
    assert sim.ephemerals("U1") == []
    assert len(sim.responses("click-1")) == 5


# -- the driver ----------------------------------------------------------------------------------


def test_driver_signature_matches_slacks_published_known_answer(sim):
    sample = (SAMPLES / "signing_known_answer.txt").read_text().splitlines()
    assert sample, f"missing {SAMPLES / 'signing_known_answer.txt'}"
    fields = dict(line.split("=", 1) for line in sample if line.startswith("signing_secret="))
    headers = dict(line.split(": ", 1) for line in sample if line.startswith("X-Slack-"))
    body = sample[sample.index("body (raw, exactly as sent):") + 1].encode()
    driver = SlackDriver("http://127.0.0.1:9", fields["signing_secret"], sim)
    assert fields["signing_secret"] == "8f742231b10e8888abcd99yyyzzz85a5"
    signed = driver.sign(body, int(headers["X-Slack-Request-Timestamp"]))
    assert signed["X-Slack-Request-Timestamp"] == "1531420618"
    assert signed["X-Slack-Signature"] == headers["X-Slack-Signature"]
    assert (
        signed["X-Slack-Signature"] == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


async def test_slack_sdks_signature_verifier_accepts_what_the_driver_sends(sim, driver, bot_endpoint):
    recorder, _ = bot_endpoint
    await driver.slash("U1", "request grafana-admin 2h <!channel> & friends")
    headers, body = recorder.requests[-1]
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b"x", headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    stale = driver.sign(body, int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)


async def test_slash_sends_slacks_form_fields_and_shows_the_ack_as_an_ephemeral(sim, driver, bot_endpoint):
    recorder, _ = bot_endpoint
    recorder.reply = web.json_response({"text": "Request r-91QX filed"})
    result = await driver.slash("U1", "request grafana-admin 2h on call", channel_id="C0GENERAL")
    assert result.status == 200 and result.json == {"text": "Request r-91QX filed"} and result.elapsed < 3
    headers, body = recorder.requests[-1]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    sample = dict(urllib.parse.parse_qsl((SAMPLES / "slash_command.form-urlencoded.txt").read_text().strip()))
    assert set(sample) - {"enterprise_id", "enterprise_name"} <= set(form)
    assert form["command"] == "/access" and form["text"] == "request grafana-admin 2h on call"
    assert form["user_id"] == "U1" and form["user_name"] == "ann" and form["team_id"] == "T0ACCESS"
    assert form["response_url"].endswith("/hooks/" + driver.last_response_tag)
    [shown] = sim.ephemerals("U1")
    assert (
        shown["text"] == "Request r-91QX filed"
        and shown["channel"] == "C0GENERAL"
        and shown["source"] == "ack"
    )


async def test_click_sends_block_actions_built_from_the_posted_message(sim, client, driver, bot_endpoint):
    recorder, _ = bot_endpoint
    posted = await client.chat_postMessage(channel="C0APPROVALS", text="Ann asks", blocks=_approval_blocks())
    message = sim.messages("C0APPROVALS")[-1]
    await driver.click("U2", message, "approve")
    headers, body = recorder.requests[-1]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    payload = _interactive_payload(body)
    sample = json.loads((SAMPLES / "block_actions_with_message.payload.json").read_text())
    assert set(sample) <= set(payload)
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U2"
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": "C0APPROVALS",
        "is_ephemeral": False,
    }
    assert payload["message"]["ts"] == posted["ts"] and payload["message"]["blocks"] == message["blocks"]
    [action] = payload["actions"]
    assert action["action_id"] == "approve" and action["block_id"] == "decide" and action["value"] == "r-91QX"
    assert action["text"] == {"type": "plain_text", "text": "Approve"} and action["type"] == "button"

    async with (
        aiohttp.ClientSession() as http,
        http.post(payload["response_url"], json={"replace_original": True, "text": "Approved by bob"}) as r,
    ):
        assert r.status == 200
    assert sim.message("C0APPROVALS", posted["ts"])["text"] == "Approved by bob"

    await driver.click("U2", message, "deny", value_override="r-FORGED")
    assert _interactive_payload(recorder.requests[-1][1])["actions"][0]["value"] == "r-FORGED"
    with pytest.raises(AssertionError, match="no button with action_id 'extend'"):
        await driver.click("U2", message, "extend")


async def test_event_carries_retry_headers_and_url_verification_sends_the_challenge(driver, bot_endpoint):
    recorder, _ = bot_endpoint
    await driver.event(
        {"type": "app_home_opened", "user": "U1", "channel": "DU1", "tab": "home"}, event_id="Ev1"
    )
    await driver.event(
        {"type": "app_home_opened", "user": "U1", "channel": "DU1", "tab": "home"},
        event_id="Ev1",
        retry_num=1,
    )
    (first_headers, first), (retry_headers, retry) = recorder.requests[-2:]
    assert "X-Slack-Retry-Num" not in first_headers
    assert (
        retry_headers["X-Slack-Retry-Num"] == "1" and retry_headers["X-Slack-Retry-Reason"] == "http_timeout"
    )
    body = json.loads(first)
    sample = json.loads((SAMPLES / "app_home_opened.event_callback.json").read_text())
    assert set(sample) - {"enterprise_id"} <= set(body)  # the sample comes from an Enterprise Grid org
    assert body["type"] == "event_callback" and body["event_id"] == "Ev1" == json.loads(retry)["event_id"]
    assert body["event"]["type"] == "app_home_opened" and body["event"]["event_ts"]
    await driver.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    assert json.loads(recorder.requests[-1][1])["type"] == "url_verification"


async def test_raw_sends_unsigned_bytes_as_given(driver, bot_endpoint):
    recorder, _ = bot_endpoint
    result = await driver.raw(b"token=x", {"Content-Type": "application/x-www-form-urlencoded"})
    assert result.status == 200
    headers, body = recorder.requests[-1]
    assert body == b"token=x" and "X-Slack-Signature" not in headers


# -- credentials and scopes ------------------------------------------------------------------------


async def test_every_answer_to_the_bot_token_carries_its_scopes_as_slack_does(sim, client):
    auth = await client.auth_test()
    assert auth.headers["x-oauth-scopes"].split(",") == list(sim.scopes)
    posted = await client.chat_postMessage(channel="C0GENERAL", text="hi")
    assert posted.headers["x-accepted-oauth-scopes"] == "chat:write"


async def test_a_method_whose_scope_the_token_lacks_is_missing_scope_with_needed_and_provided(sim, client):
    sim.scopes = ("commands", "chat:write")
    with pytest.raises(SlackApiError) as caught:
        await client.users_lookupByEmail(email="ann@example.com")
    assert caught.value.response["error"] == "missing_scope"
    assert caught.value.response["needed"] == "users:read.email"
    assert caught.value.response["provided"] == "commands,chat:write"
    assert (await client.auth_test()).headers["x-oauth-scopes"] == "commands,chat:write"


async def test_a_revoked_bot_token_is_token_revoked_until_the_test_restores_it(sim, client):
    sim.token_revoked = True
    with pytest.raises(SlackApiError) as caught:
        await client.auth_test()
    assert caught.value.response["error"] == "token_revoked"
    sim.token_revoked = False
    assert (await client.auth_test())["ok"]


def test_the_simulated_bot_scopes_are_the_manifests() -> None:
    import yaml

    from bot.preflight import REQUIRED_SCOPES
    from bot.simulators.slack_auth import BOT_SCOPES

    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())
    assert tuple(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES == REQUIRED_SCOPES
