"""Whatever a person types, and whatever their user, channel or workspace is called, a command or a click
gets an answer or a refusal: the body is parsed by its content type, never by guessing from its text
(bolt's guess made a command saying "payload" or starting with "{" vanish). Property-based: the words
come from arbitrary Unicode and from Slack's and HTTP's own vocabulary (every field name in Slack's sample
payloads, `payload`, `{`, `=`, `&`, `%`…), over HTTP and over Socket Mode."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.simulators.slack_driver import FORM
from bot.simulators.stack import Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    APPROVE,
    CAROL,
    DANA,
    DENY,
    MALLORY,
    approval_message,
    grants,
    request,
    settle,
    slash,
    wait_until,
)

SAMPLES = Path(__file__).resolve().parents[1] / "reference" / "slack" / "samples"


def _field_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {n for v in value.values() for n in _field_names(v)}
    if isinstance(value, list):
        return {n for v in value for n in _field_names(v)}
    return set()


def _protocol_words() -> list[str]:
    words = {"payload", "payload=", "payload={}", "token", "type", "json", "{", "}", "{}", "[", "=", "&", "%",
             "%7B", "+", "?", "ssl_check", "ssl_check=1", "challenge", "url_verification", "command", "text",
             "event_callback", "block_actions", "view_submission", "application/json", "null", "true", "\"",
             "&amp;", "&lt;", "<!channel>", "x`<!channel>`", "<@U0APPR01>", "r-", "g-", "request", "extend"}
    for path in SAMPLES.iterdir():
        body = path.read_text()
        if path.name.endswith(".json"):
            words |= _field_names(json.loads(body))
        elif path.name.endswith(".form-urlencoded.txt"):
            words |= set(urllib.parse.parse_qs(body))
    return sorted(words)


WORDS = _protocol_words()
# any Unicode a form can carry (surrogates cannot be UTF-8): control characters, NUL and all
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
WORD = st.one_of(st.sampled_from(WORDS), st.sampled_from(WORDS), ANY_TEXT)  # two parts vocabulary, one Unicode
PHRASE = st.lists(WORD, min_size=1, max_size=6).map(" ".join)
NAME = st.one_of(st.sampled_from(WORDS), ANY_TEXT, PHRASE)
COMMAND = st.one_of(
    PHRASE,
    st.tuples(st.sampled_from(["request", "request staging", "request staging 1h", "request prod-db 2h",
                               "extend", "revoke", "approve", "deny", "cancel", "audit", "list", "roles",
                               "pending", "help"]), PHRASE).map(" ".join),
)
RUNS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def _answered(stack: Stack, user: str, before: tuple[int, int]) -> bool:
    """One more ephemeral answer for `user`, or (for empty text) one more modal opened."""
    return (len(stack.slack.ephemerals(user)), stack.slack.count("views.open")) != before


def _mark(stack: Stack, user: str) -> tuple[int, int]:
    return len(stack.slack.ephemerals(user)), stack.slack.count("views.open")


def _slash_fields(stack: Stack, text: str, user_name: str, channel_name: str, team_domain: str) -> dict[str, Any]:
    fields, _ = stack.driver._slash_payload(MALLORY, text, "/access", "C0GENERAL")  # noqa: SLF001 - same as Slack
    fields.update(user_name=user_name, channel_name=channel_name, team_domain=team_domain)
    return fields


async def _post_form(stack: Stack, fields: dict[str, Any]) -> None:
    body = urllib.parse.urlencode(list(fields.items())).encode()
    resp = await stack.driver.raw(body, {"Content-Type": FORM, **stack.driver.sign(body)})
    assert resp.status == 200, resp.body


@given(text=COMMAND, user_name=NAME, channel_name=NAME, team_domain=NAME)
@example(text="request staging 1h payload", user_name="alice", channel_name="general", team_domain="acme")
@example(text="list", user_name="payload", channel_name="general", team_domain="acme")
@example(text="roles", user_name="alice", channel_name="payload-team", team_domain="payload")
@RUNS
async def test_every_slash_command_gets_an_answer_whatever_its_words(
        stack: Stack, text: str, user_name: str, channel_name: str, team_domain: str) -> None:
    before = _mark(stack, MALLORY)
    await _post_form(stack, _slash_fields(stack, text, user_name, channel_name, team_domain))
    await settle(stack)
    assert _answered(stack, MALLORY, before), f"no answer to {text!r}"


@pytest.fixture
async def socket_stack(make_stack: StackFactory) -> Stack:
    """The bot in Socket Mode (driven through the simulator's websocket)."""
    return await make_stack(socket_mode=True)


async def test_a_command_whose_reason_says_payload_or_starts_with_a_brace_is_filed(stack: Stack) -> None:
    for user, reason in ((ALICE, "payload"), (CAROL, "{json}"), (DANA, "payload={} token=x&type=y")):
        reply = await slash(stack, user, f"request staging 1h {reason}")
        assert "staging" in reply["text"], reply
        [grant] = await grants(stack, requester=user)
        assert (await request(stack, grant.request_id)).reason == reason


def _click_fields(stack: Stack, message: dict[str, Any], action: str, value: str | None, user_name: str,
                  channel_name: str, team_domain: str) -> dict[str, Any]:
    payload = stack.driver._click_payload(MALLORY, message, action, value_override=value)  # noqa: SLF001
    payload["user"].update(name=user_name, username=user_name)
    payload["channel"]["name"] = channel_name
    payload["team"]["domain"] = team_domain
    return payload


@given(action=st.sampled_from([APPROVE, DENY]), value=st.one_of(st.none(), NAME), user_name=NAME,
       channel_name=NAME, team_domain=NAME)
@example(action=APPROVE, value="x`<!channel>`", user_name="payload", channel_name="{", team_domain="json")
@RUNS
async def test_every_click_gets_an_answer_whatever_its_words(
        stack: Stack, action: str, value: str | None, user_name: str, channel_name: str, team_domain: str) -> None:
    if not stack.extra.get("message"):
        await slash(stack, ALICE, "request prod-db 2h incident")
        stack.extra["message"] = await approval_message(stack)
    before = _mark(stack, MALLORY)
    payload = _click_fields(stack, stack.extra["message"], action, value, user_name, channel_name, team_domain)
    await _post_form(stack, {"payload": json.dumps(payload)})
    await settle(stack)
    assert _answered(stack, MALLORY, before), f"no answer to a click carrying {value!r}"


# ---- Socket Mode -----------------------------------------------------------------------------------

@given(text=COMMAND, user_name=NAME, channel_name=NAME, team_domain=NAME)
@example(text="request staging 1h payload", user_name="alice", channel_name="general", team_domain="acme")
@RUNS
async def test_every_socket_mode_command_gets_an_answer_whatever_its_words(
        socket_stack: Stack, text: str, user_name: str, channel_name: str, team_domain: str) -> None:
    stack = socket_stack
    before = _mark(stack, MALLORY)
    envelope = await stack.slack.socket_send("slash_commands",
                                             _slash_fields(stack, text, user_name, channel_name, team_domain),
                                             accepts_response_payload=True)
    await stack.slack.socket_wait_ack(envelope, timeout=5)
    await settle(stack)
    await wait_until(lambda: _answered(stack, MALLORY, before), 5, f"an answer to {text!r}")


@given(action=st.sampled_from([APPROVE, DENY]), value=st.one_of(st.none(), NAME), user_name=NAME,
       channel_name=NAME, team_domain=NAME)
@RUNS
async def test_every_socket_mode_click_gets_an_answer_whatever_its_words(
        socket_stack: Stack, action: str, value: str | None, user_name: str, channel_name: str,
        team_domain: str) -> None:
    stack = socket_stack
    if not stack.extra.get("message"):
        await stack.driver.socket_slash(ALICE, "request prod-db 2h incident")
        await settle(stack)
        stack.extra["message"] = await approval_message(stack)
    before = _mark(stack, MALLORY)
    payload = _click_fields(stack, stack.extra["message"], action, value, user_name, channel_name, team_domain)
    envelope = await stack.slack.socket_send("interactive", payload)
    await stack.slack.socket_wait_ack(envelope, timeout=5)
    await settle(stack)
    await wait_until(lambda: _answered(stack, MALLORY, before), 5, f"an answer to a click carrying {value!r}")


@given(role=st.one_of(st.just("staging"), NAME), duration=st.one_of(st.just(""), NAME), reason=NAME)
@example(role="staging", duration="1h", reason="payload={} token=x")
@RUNS
async def test_every_modal_submission_gets_an_answer_whatever_its_words(
        stack: Stack, role: str, duration: str, reason: str) -> None:
    if not stack.extra.get("modal"):
        await stack.driver.slash(MALLORY, "")
        await settle(stack)
        [stack.extra["modal"]] = stack.slack.modals(MALLORY)
    dms = len(stack.slack.dms_to(MALLORY))
    values = {"role": {"value": {"type": "static_select", "selected_option": {"value": role}}},
              "duration": {"value": {"type": "plain_text_input", "value": duration}},
              "reason": {"value": {"type": "plain_text_input", "value": reason}}}
    resp = await stack.driver.view_submission(MALLORY, stack.extra["modal"], values)
    assert resp.status == 200, resp.body
    await settle(stack)
    if resp.json and resp.json.get("response_action") == "errors":
        assert resp.json["errors"], resp.json  # the modal shows what is wrong
    else:  # the request is filed by a lazy listener, after the ack: its answer is a DM
        await wait_until(lambda: len(stack.slack.dms_to(MALLORY)) > dms, 5, f"an answer to the submission of {values}")
