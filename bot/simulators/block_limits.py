"""Slack's Block Kit limits and known block and element types, and the text-object check every other check uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Block Kit limits, as Slack documents them (api.slack.com/reference/block-kit).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_ATTACHMENTS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_INPUT_LABEL = 2000
MAX_PLACEHOLDER = 150
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_MARKDOWN_BLOCK_TEXT = 12_000
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000

BLOCK_TYPES = frozenset(
    {
        "actions",
        "call",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
ELEMENT_TYPES = frozenset(
    {
        "button",
        "channels_select",
        "checkboxes",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "file_input",
        "image",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "timepicker",
        "url_text_input",
        "users_select",
        "workflow_button",
    }
)
OPTION_ELEMENTS = {"static_select", "multi_static_select", "overflow", "checkboxes", "radio_buttons"}
MAX_OPTIONS_BY_TYPE = {"overflow": 5, "checkboxes": 10, "radio_buttons": 10}
VIEW_TYPES = {"modal", "home"}

# A check of one block or element: it adds why Slack would refuse it to the list (path names the place).
Check = Callable[[dict[str, Any], str, list[str]], None]


def text_object(
    obj: Any,
    path: str,
    max_len: int,
    errors: list[str],
    *,
    plain_only: bool = False,
) -> None:
    """Add why a text object is refused to `errors`: not an object, a wrong type, no text or too long."""
    if not isinstance(obj, dict):
        errors.append(f"{path} must be a text object")
        return
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in kinds:
        errors.append(f"{path}.type must be {' or '.join(kinds)}, got {obj.get('type')!r}")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"{path}.text must be a non-empty string")
    elif len(text) > max_len:
        errors.append(f"{path}.text must be at most {max_len} characters, has {len(text)}")
