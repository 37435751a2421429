"""The Block Kit checks the Slack simulator applies, called directly: each block and element type's own check."""

from __future__ import annotations

from bot.simulators.block_elements import ELEMENT_CHECKS
from bot.simulators.block_kit import (
    BLOCK_CHECKS,
    block_kit_errors,
    message_text_errors,
    text_object_errors,
    view_errors,
)
from bot.simulators.block_limits import (
    BLOCK_TYPES,
    ELEMENT_TYPES,
    MAX_BUTTON_TEXT,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_TEXT,
)


def _button(text: str = "Go", **extra: object) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, **extra}


def test_every_checked_block_and_element_type_is_one_slack_knows() -> None:
    assert set(BLOCK_CHECKS) <= BLOCK_TYPES
    assert set(ELEMENT_CHECKS) <= ELEMENT_TYPES


def test_a_section_of_exactly_the_limit_passes_and_one_character_more_fails() -> None:
    at_limit = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * MAX_SECTION_TEXT}}]
    over = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * (MAX_SECTION_TEXT + 1)}}]
    assert block_kit_errors(at_limit) == []
    assert block_kit_errors(over) == [f"blocks[0].text.text must be at most {MAX_SECTION_TEXT} characters, "
                                      f"has {MAX_SECTION_TEXT + 1}"]


def test_a_block_type_without_its_own_check_is_accepted_as_it_is() -> None:
    assert block_kit_errors([{"type": "divider"}]) == []
    assert block_kit_errors([{"type": "carousel"}]) == ["blocks[0].type 'carousel' is not a known block type"]


def test_a_button_label_past_its_limit_and_a_repeated_action_id_are_each_reported() -> None:
    actions = {"type": "actions", "elements": [_button("x" * (MAX_BUTTON_TEXT + 1), action_id="a"),
                                               _button(action_id="a")]}
    errors = block_kit_errors([actions])
    assert f"blocks[0].elements[0].text.text must be at most {MAX_BUTTON_TEXT} characters, has 76" in errors
    assert "blocks[0].elements[1].action_id 'a' is not unique in the block" in errors


def test_an_initial_option_must_be_one_of_the_options_of_a_select() -> None:
    select = {"type": "static_select", "action_id": "s",
              "options": [{"text": {"type": "plain_text", "text": "A"}, "value": "a"}],
              "initial_option": {"text": {"type": "plain_text", "text": "B"}, "value": "b"}}
    errors = block_kit_errors([{"type": "section", "text": {"type": "mrkdwn", "text": "t"}, "accessory": select}])
    assert errors == ["blocks[0].accessory.initial_option must be one of the options"]


def test_a_modal_with_an_input_needs_a_submit_button() -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"},
            "blocks": [{"type": "input", "label": {"type": "plain_text", "text": "L"},
                        "element": {"type": "plain_text_input", "action_id": "i"}}]}
    assert view_errors(view) == ["view.submit is required when the view has input blocks"]
    assert view_errors({**view, "submit": {"type": "plain_text", "text": "OK"}}) == []


def test_a_text_object_is_checked_on_its_own_against_the_limit_given() -> None:
    assert text_object_errors({"type": "mrkdwn", "text": "hi"}, "t", 2) == []
    assert text_object_errors({"type": "mrkdwn", "text": "hi"}, "t", 2, plain_only=True) == [
        "t.type must be plain_text, got 'mrkdwn'"]


def test_a_message_text_past_slacks_limit_is_refused() -> None:
    assert message_text_errors("x" * MAX_MESSAGE_TEXT) == []
    assert message_text_errors("x" * (MAX_MESSAGE_TEXT + 1)) != []
