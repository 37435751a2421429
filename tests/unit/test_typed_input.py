"""What people type is bounded and cleaned at the edge: durations refuse what is not one (negative, huge,
unknown units) with a clear message; control characters never reach storage."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.durations import DurationError, meant_as_duration, parse_duration
from bot.domain.typed import clean, clean_tree
from bot.slack.inbound import BodyError, parse_slack_body


@pytest.mark.parametrize(("text", "words"), [
    ("-5m", "more than zero"), ("+5m", "more than zero"), ("\u22125m", "more than zero"),
    ("1.5h", "whole numbers"), ("5y", "unknown unit 'y'"), ("5", "no unit"), ("1h1h", "given twice"),
    ("9" * 4400 + "s", "longer than a year"), ("99999999999h", "longer than a year"), ("400d", "longer than a year"),
])
def test_a_bad_duration_is_refused_with_a_clear_message(text: str, words: str) -> None:
    with pytest.raises(DurationError, match=words):
        parse_duration(text)


def test_a_duration_with_a_sign_or_a_decimal_point_is_meant_as_one() -> None:
    for word in ("-5m", "+1h", "1.5h", "90x", "2h"):
        assert meant_as_duration(word), word
    for word in ("incident", "-v", "x1h", ""):
        assert not meant_as_duration(word), word


def test_leading_zeros_do_not_count_as_digits() -> None:
    assert parse_duration("0000000000090s") == timedelta(seconds=90)


def test_control_characters_are_removed_but_tabs_and_newlines_kept() -> None:
    assert clean("a\x00b\x07c\x1bd\x7fe") == "abcde"
    assert clean("line 1\r\nline 2\rline 3\tend") == "line 1\nline 2\nline 3\tend"
    assert clean("a\nb\tc", multiline=False) == "a b c"
    assert clean("lone \ud800 surrogate") == "lone  surrogate"
    assert clean("emoji 🎉 and ünïcödé") == "emoji 🎉 and ünïcödé"


def test_every_string_of_a_parsed_body_is_cleaned() -> None:
    assert clean_tree({"a\x00": ["x\x00", {"y": "z\x01"}, 3, None]}) == {"a": ["x", {"y": "z"}, 3, None]}


def test_a_slack_body_is_read_by_its_content_type_not_its_text() -> None:
    form = "application/x-www-form-urlencoded"
    assert parse_slack_body("command=%2Faccess&text=payload", form) == {"command": "/access", "text": "payload"}
    assert parse_slack_body("payload=%7B%22type%22%3A%22block_actions%22%7D", form) == {"type": "block_actions"}
    assert parse_slack_body('{"type": "event_callback"}', "application/json; charset=utf-8") == {
        "type": "event_callback"}
    assert parse_slack_body("command=%2Faccess&text=%00nul", form)["text"] == "nul"
    for body, content_type in (("{}", "text/plain"), ("[1]", "application/json"), ("payload=nope", form),
                               ("{", "application/json")):
        with pytest.raises(BodyError):
            parse_slack_body(body, content_type)


def test_a_modal_state_not_shaped_as_slack_shapes_it_reads_as_empty_fields() -> None:
    from bot.slack.modal import read_submission

    for values in ({"role": "x", "duration": {"value": 5}, "reason": {"value": {"value": ["a"]}}},
                   {"role": {"value": {"type": "static_select", "selected_option": "staging"}}}, [], None):
        fields, errors = read_submission(values, {})  # type: ignore[arg-type]
        assert fields == {"role": "", "duration": None, "reason": "", "start": None} and set(errors) == {"role"}


_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
_TREE = st.recursive(_TEXT | st.integers() | st.booleans(),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
                     max_leaves=8)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_TEXT, _TREE, max_size=4), st.sampled_from(["json", "escaped json", "payload", "command"]))
def test_a_body_handed_over_without_the_cleaning_walk_holds_nothing_it_would_have_removed(
        data: dict, shape: str) -> None:
    # parse_slack_body skips clean_tree for a body that cannot hold a control character or a lone surrogate
    form = "application/x-www-form-urlencoded"
    if shape in ("json", "escaped json"):
        try:
            text = json.dumps(data, ensure_ascii=shape == "escaped json")
        except UnicodeEncodeError:
            return
        got, want = parse_slack_body(text, "application/json"), clean_tree(json.loads(text))
    elif shape == "payload":
        text = urlencode({"payload": json.dumps(data)})
        got, want = parse_slack_body(text, form), clean_tree(json.loads(json.dumps(data)))
    else:
        fields = {"command": "/access", **{k: str(v) for k, v in data.items()}}
        try:
            text = urlencode(fields)
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8, so never in a body
            return
        got, want = parse_slack_body(text, form), clean_tree(dict(parse_qsl(text, keep_blank_values=True)))
    assert got == want
