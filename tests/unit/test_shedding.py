"""bot.slack.shedding: a flood turned away busy is answered from its raw bytes, counted, and summed up once a second."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.slack import shedding
from bot.slack.inbound import BodyError, parse_slack_body
from bot.slack.request_log import kind_of
from bot.slack.shedding import Shedding, sniff_kind
from tests.log_capture import logged_events

FORM = "application/x-www-form-urlencoded"
SAMPLES = Path(__file__).parents[1] / "reference" / "slack" / "samples"


def _sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def _interactivity(payload: dict[str, Any], separators: tuple[str, str] | None = None) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=separators)}).encode()


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def summaries() -> Iterator[list[dict[str, Any]]]:
    """The "slack requests turned away" lines logged while the test runs."""
    with logged_events("bot.slack.requests", "slack requests turned away") as lines:
        yield lines


def test_slacks_own_samples_are_placed_as_the_parser_places_them() -> None:
    slash = _sample("slash_command.form-urlencoded.txt").strip().encode()
    assert sniff_kind(slash, FORM) == "command"
    for name in ("block_actions.payload.json", "block_actions_with_message.payload.json"):
        payload = json.loads(_sample(name))
        for separators in (None, (",", ":")):  # json.dumps' default, and Slack's compact JSON
            assert sniff_kind(_interactivity(payload, separators), FORM) == "action"
    view = json.loads(_sample("view_submission.payload.json"))
    assert sniff_kind(_interactivity(view), FORM) is None, "a modal submission is never turned away"
    assert sniff_kind(_sample("app_mention.event_callback.json").encode(), "application/json") is None


def test_a_body_of_another_content_type_or_in_an_unusual_order_is_left_to_the_parser() -> None:
    slash = _sample("slash_command.form-urlencoded.txt").strip().encode()
    assert sniff_kind(slash, "application/json") is None
    assert sniff_kind(slash, None) is None
    assert sniff_kind(slash, "application/x-www-form-urlencoded; charset=utf-8") == "command"
    clicked = {"user": {"id": "U1"}, "type": "block_actions"}  # `type` not first
    assert sniff_kind(_interactivity(clicked), FORM) is None
    assert sniff_kind(b"payload=" + _interactivity({"type": "block_actions"})[8:] + b"&command=%2Fx", FORM) is None
    assert sniff_kind(b"token=t&text=command%3Dx", FORM) is None, "no command field: bolt answers it"


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
_FIELDS = st.dictionaries(st.sampled_from(["token", "team_id", "user_id", "text", "channel_id", "payload",
                                           "command", "response_url", "trigger_id", "type"]), _TEXT, max_size=8)
_PAYLOADS = st.builds(lambda kind, rest: {"type": kind, **rest},  # Slack's payloads open with their type
                      st.sampled_from(["block_actions", "view_submission", "shortcut", "block_suggestion",
                                       "message_action", "block_actionsx", "x"]),
                      st.fixed_dictionaries({}, optional={"user": st.fixed_dictionaries({"id": _TEXT}),
                                                          "actions": st.just([]), "text": _TEXT}))


@given(fields=_FIELDS)
def test_the_sniff_never_disagrees_with_the_parser_on_any_form(fields: dict[str, str]) -> None:
    raw = urlencode(fields).encode()
    kind = sniff_kind(raw, FORM)
    try:
        parsed = kind_of(parse_slack_body(raw.decode(), FORM))
    except BodyError:
        assert kind is None or "payload" in fields  # a broken payload Slack never sends; see the module
        return
    assert kind in (None, parsed)
    if "command" in fields and "payload" not in fields:
        assert kind == "command"


@given(payload=_PAYLOADS, compact=st.booleans())
def test_the_sniff_places_an_interactivity_payload_as_the_parser_does(payload: dict[str, Any], compact: bool) -> None:
    raw = _interactivity(payload, (",", ":") if compact else None)
    kind = sniff_kind(raw, FORM)
    assert kind == ("action" if payload["type"] == "block_actions" else None)
    assert kind in (None, kind_of(parse_slack_body(raw.decode(), FORM)))


def test_detailed_answers_are_a_token_bucket_refilled_at_their_rate() -> None:
    clock = Clock()
    rate = Shedding(per_second=3, clock=clock)
    assert [rate.take_detail() for _ in range(4)] == [True, True, True, False]
    assert not rate.detail_left()
    clock.now += 0.34  # a third of a second, and a little
    assert rate.detail_left() and rate.take_detail() and not rate.take_detail()
    clock.now += 60
    assert [rate.take_detail() for _ in range(4)] == [True, True, True, False], "the bucket holds one second"


def test_the_requests_turned_away_quietly_are_summed_up_in_one_line(summaries: list[dict[str, Any]]) -> None:
    clock = Clock()
    rate = Shedding(per_second=1, clock=clock)
    for kind in ("action", "action", "command"):
        rate.quietly("http", kind)
    rate.quietly("socket", "command")
    clock.now += 0.8
    rate.flush()
    assert [(s["transport"], s["count"], s["kinds"], s["seconds"]) for s in summaries] == [
        ("http", 3, {"action": 2, "command": 1}, 0.8), ("socket", 1, {"command": 1}, 0.8)]
    assert all(s["outcome"] == "busy" for s in summaries)
    rate.flush()
    assert len(summaries) == 2, "nothing counted since: no line"


async def test_the_summary_line_is_written_within_a_second_without_another_request(
        summaries: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shedding, "SUMMARY_EVERY", 0.05)
    rate = Shedding(per_second=1)
    rate.quietly("http", "action")
    rate.quietly("http", "action")
    assert summaries == []
    await asyncio.sleep(0.2)
    assert [s["count"] for s in summaries] == [2]
