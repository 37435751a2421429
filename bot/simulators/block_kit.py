"""Block Kit and view checks as Slack documents them: pure functions the Slack simulator and the tests share.

`block_kit_errors(blocks)` and `view_errors(view)` say why Slack would refuse blocks or a view (an empty list
when it would accept them); `message_text_errors(text)` checks a message's text. Each block type and element
type has its own small check, found in a table (`BLOCK_CHECKS`, `ELEMENT_CHECKS`).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot.simulators.block_elements import check_element
from bot.simulators.block_limits import (
    BLOCK_TYPES,
    MAX_ACTIONS_ELEMENTS,
    MAX_BLOCK_ID,
    MAX_CONTEXT_ELEMENTS,
    MAX_FIELD_TEXT,
    MAX_HEADER_TEXT,
    MAX_INPUT_LABEL,
    MAX_MARKDOWN_BLOCK_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_PRIVATE_METADATA,
    MAX_SECTION_FIELDS,
    MAX_SECTION_TEXT,
    MAX_URL,
    MAX_VIEW_BLOCKS,
    MAX_VIEW_TITLE,
    VIEW_TYPES,
    Check,
    text_object,
)

__all__ = ["BLOCK_CHECKS", "block_kit_errors", "message_text_errors", "text_object_errors", "view_errors"]


def text_object_errors(obj: Any, path: str, max_len: int, *, plain_only: bool = False) -> list[str]:
    """Why Slack would refuse this text object (`{"type": "mrkdwn", "text": ...}`) of at most `max_len` characters."""
    errors: list[str] = []
    text_object(obj, path, max_len, errors, plain_only=plain_only)
    return errors


def message_text_errors(text: Any) -> list[str]:
    """Why Slack would refuse this as a message's `text` (``msg_too_long`` past MAX_MESSAGE_TEXT characters)."""
    if len(str(text)) > MAX_MESSAGE_TEXT:
        return [f"text must be at most {MAX_MESSAGE_TEXT} characters, has {len(str(text))}"]
    return []


def block_kit_errors(blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Why Slack would answer ``invalid_blocks`` for these blocks (empty when it would accept them)."""
    errors: list[str] = []
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    if len(blocks) > max_blocks:
        errors.append(f"must have at most {max_blocks} blocks, has {len(blocks)}")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        path = f"blocks[{i}]"
        if not isinstance(block, dict):
            errors.append(f"{path} must be an object")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 1 <= len(block_id) <= MAX_BLOCK_ID:
                errors.append(f"{path}.block_id must be a string of 1..{MAX_BLOCK_ID} characters")
            elif block_id in block_ids:
                errors.append(f"{path}.block_id {block_id!r} is not unique")
            else:
                block_ids.add(block_id)
        _check_block(block, path, errors)
        if not errors:
            errors.extend(sdk_errors(block, path))
    return errors


def sdk_errors(block: dict[str, Any], path: str) -> list[str]:
    """What slack_sdk's own Block Kit models refuse in one block (its `validate_json`), as a second opinion on the
    tables above; a block type the models do not know is left to the tables."""
    try:
        parsed = Block.parse(block)
        if parsed is not None:
            parsed.validate_json()
    except (SlackObjectFormationError, KeyError, TypeError, ValueError) as exc:
        return [f"{path}: slack_sdk.models refuses it: {exc}"]
    return []


def view_errors(view: Any) -> list[str]:
    """Why Slack would refuse this view object (modal or home); empty when it would accept it."""
    if not isinstance(view, dict):
        return ["view must be an object"]
    errors: list[str] = []
    view_type = view.get("type")
    if view_type not in VIEW_TYPES:
        errors.append(f"view.type must be one of {sorted(VIEW_TYPES)}, got {view_type!r}")
    _view_texts(view, errors)
    _view_fields(view, errors)
    if "blocks" not in view:
        errors.append("view.blocks is required")
    else:
        errors.extend(block_kit_errors(view["blocks"], max_blocks=MAX_VIEW_BLOCKS))
    return errors


def _view_texts(view: dict[str, Any], errors: list[str]) -> None:
    """The title, submit and close texts of a view, and a modal with inputs having a submit button."""
    is_modal = view.get("type") == "modal"
    if is_modal:
        text_object(view.get("title"), "view.title", MAX_VIEW_TITLE, errors, plain_only=True)
    for key in ("submit", "close"):
        if view.get(key) is not None:
            text_object(view[key], f"view.{key}", MAX_VIEW_TITLE, errors, plain_only=True)
    if (
        is_modal
        and view.get("submit") is None
        and any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
    ):
        errors.append("view.submit is required when the view has input blocks")


def _view_fields(view: dict[str, Any], errors: list[str]) -> None:
    """The private_metadata, callback_id and external_id of a view: strings within their limits."""
    metadata = view.get("private_metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > MAX_PRIVATE_METADATA):
        errors.append(f"view.private_metadata must be a string of at most {MAX_PRIVATE_METADATA} characters")
    for key in ("callback_id", "external_id"):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            errors.append(f"view.{key} must be a string of at most 255 characters")


# -- blocks, one check per type ---------------------------------------------------------------------


def _check_block(block: dict[str, Any], path: str, errors: list[str]) -> None:
    """Add why one block is refused to `errors`: an unknown type, or what its type's check finds."""
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        errors.append(f"{path}.type {kind!r} is not a known block type")
        return
    check = BLOCK_CHECKS.get(kind)
    if check is not None:
        check(block, path, errors)


def _section(block: dict[str, Any], path: str, errors: list[str]) -> None:
    """A section: text or fields (each within its limit) and an optional accessory element."""
    if "text" not in block and "fields" not in block:
        errors.append(f"{path} needs text or fields")
    if "text" in block:
        text_object(block["text"], f"{path}.text", MAX_SECTION_TEXT, errors)
    if "fields" in block:
        fields = block["fields"]
        if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_SECTION_FIELDS:
            errors.append(f"{path}.fields must be a list of 1..{MAX_SECTION_FIELDS} text objects")
        else:
            for j, field in enumerate(fields):
                text_object(field, f"{path}.fields[{j}]", MAX_FIELD_TEXT, errors)
    if "accessory" in block:
        check_element(block["accessory"], f"{path}.accessory", errors)


def _header(block: dict[str, Any], path: str, errors: list[str]) -> None:
    """A header: plain text of at most MAX_HEADER_TEXT characters."""
    text_object(block.get("text"), f"{path}.text", MAX_HEADER_TEXT, errors, plain_only=True)


def _actions(block: dict[str, Any], path: str, errors: list[str]) -> None:
    """An actions block: 1..MAX_ACTIONS_ELEMENTS valid elements whose action_ids are unique in the block."""
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ACTIONS_ELEMENTS:
        errors.append(f"{path}.elements must be a list of 1..{MAX_ACTIONS_ELEMENTS} elements")
        return
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        check_element(element, f"{path}.elements[{j}]", errors)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if action_id is not None:
            if action_id in action_ids:
                errors.append(f"{path}.elements[{j}].action_id {action_id!r} is not unique in the block")
            action_ids.add(action_id)


def _context(block: dict[str, Any], path: str, errors: list[str]) -> None:
    """A context block: 1..MAX_CONTEXT_ELEMENTS images or text objects."""
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
        errors.append(f"{path}.elements must be a list of 1..{MAX_CONTEXT_ELEMENTS} elements")
        return
    for j, element in enumerate(elements):
        epath = f"{path}.elements[{j}]"
        if isinstance(element, dict) and element.get("type") == "image":
            check_element(element, epath, errors)
        else:
            text_object(element, epath, MAX_SECTION_TEXT, errors)


def _input(block: dict[str, Any], path: str, errors: list[str]) -> None:
    """An input block: a plain label (and hint) and one valid element."""
    text_object(block.get("label"), f"{path}.label", MAX_INPUT_LABEL, errors, plain_only=True)
    if "hint" in block:
        text_object(block["hint"], f"{path}.hint", MAX_INPUT_LABEL, errors, plain_only=True)
    if "element" not in block:
        errors.append(f"{path}.element is required")
    else:
        check_element(block["element"], f"{path}.element", errors)


def _image_block(block: dict[str, Any], path: str, errors: list[str]) -> None:
    """An image block: an image_url (within MAX_URL) or slack_file, alt text and an optional plain title."""
    if not block.get("image_url") and not block.get("slack_file"):
        errors.append(f"{path} needs image_url or slack_file")
    elif len(str(block.get("image_url", ""))) > MAX_URL:
        errors.append(f"{path}.image_url must be at most {MAX_URL} characters")
    alt = block.get("alt_text")
    if not isinstance(alt, str) or not 1 <= len(alt) <= 2000:
        errors.append(f"{path}.alt_text must be a string of 1..2000 characters")
    if "title" in block:
        text_object(block["title"], f"{path}.title", 2000, errors, plain_only=True)


def _markdown(block: dict[str, Any], path: str, errors: list[str]) -> None:
    """A markdown block: text of 1..MAX_MARKDOWN_BLOCK_TEXT characters."""
    text = block.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_MARKDOWN_BLOCK_TEXT:
        errors.append(f"{path}.text must be a string of 1..{MAX_MARKDOWN_BLOCK_TEXT} characters")


def _rich_text(block: dict[str, Any], path: str, errors: list[str]) -> None:
    """A rich_text block: a list of elements."""
    if not isinstance(block.get("elements"), list):
        errors.append(f"{path}.elements must be a list")


# The check of each block type (types absent here are accepted as they are).
BLOCK_CHECKS: dict[str, Check] = {
    "section": _section,
    "header": _header,
    "actions": _actions,
    "context": _context,
    "input": _input,
    "image": _image_block,
    "markdown": _markdown,
    "rich_text": _rich_text,
}
