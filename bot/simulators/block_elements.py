"""Block Kit interactive elements (buttons, selects, inputs, confirmation dialogs), one check per element type."""

from __future__ import annotations

from typing import Any

from bot.simulators.block_limits import (
    ELEMENT_TYPES,
    MAX_ACTION_ID,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_OPTION_TEXT,
    MAX_OPTION_VALUE,
    MAX_OPTIONS,
    MAX_OPTIONS_BY_TYPE,
    MAX_PLACEHOLDER,
    MAX_URL,
    OPTION_ELEMENTS,
    Check,
    text_object,
)


def check_element(element: Any, path: str, errors: list[str]) -> None:
    """Add why one interactive element (or image) is refused to `errors`; its type's check comes from the table."""
    if not isinstance(element, dict):
        errors.append(f"{path} must be an object")
        return
    kind = element.get("type")
    if kind not in ELEMENT_TYPES:
        errors.append(f"{path}.type {kind!r} is not a known element type")
        return
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or not 1 <= len(action_id) <= MAX_ACTION_ID):
        errors.append(f"{path}.action_id must be a string of 1..{MAX_ACTION_ID} characters")
    if "placeholder" in element:
        text_object(element["placeholder"], f"{path}.placeholder", MAX_PLACEHOLDER, errors, plain_only=True)
    if "confirm" in element:
        _check_confirm(element["confirm"], f"{path}.confirm", errors)
    check = ELEMENT_CHECKS.get(kind)
    if check is not None:
        check(element, path, errors)


def _button(element: dict[str, Any], path: str, errors: list[str]) -> None:
    """A button: plain text, and a value, url and style within their limits."""
    text_object(element.get("text"), f"{path}.text", MAX_BUTTON_TEXT, errors, plain_only=True)
    value = element.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
        errors.append(f"{path}.value must be a string of at most {MAX_BUTTON_VALUE} characters")
    url = element.get("url")
    if url is not None and (not isinstance(url, str) or len(url) > MAX_URL):
        errors.append(f"{path}.url must be a string of at most {MAX_URL} characters")
    style = element.get("style")
    if style is not None and style not in ("primary", "danger"):
        errors.append(f"{path}.style must be primary or danger, got {style!r}")


def _image_element(element: dict[str, Any], path: str, errors: list[str]) -> None:
    """An image element: an image_url or slack_file, and alt text."""
    if not element.get("image_url") and not element.get("slack_file"):
        errors.append(f"{path} needs image_url or slack_file")
    if not isinstance(element.get("alt_text"), str) or not element.get("alt_text"):
        errors.append(f"{path}.alt_text must be a non-empty string")


def _plain_text_input(element: dict[str, Any], path: str, errors: list[str]) -> None:
    """A plain text input: min_length and max_length, when given, are integers of 0..3000."""
    for key in ("min_length", "max_length"):
        value = element.get(key)
        if value is not None and (not isinstance(value, int) or not 0 <= value <= 3000):
            errors.append(f"{path}.{key} must be an integer of 0..3000")


def _datetimepicker(element: dict[str, Any], path: str, errors: list[str]) -> None:
    """A date-and-time picker: `initial_date_time`, when given, is a Unix time in whole seconds (Slack shows it in
    the reader's own timezone); it takes no placeholder."""
    value = element.get("initial_date_time")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        errors.append(f"{path}.initial_date_time must be a Unix time in whole seconds")
    if "placeholder" in element:
        errors.append(f"{path}: a datetimepicker takes no placeholder")


def _options(element: dict[str, Any], path: str, errors: list[str]) -> None:
    """A select, overflow, checkboxes or radio buttons: its options (or option groups) and its initial option."""
    kind = element["type"]
    all_options = _gathered_options(element, kind, path, errors)
    if all_options is None:
        return
    plain_only = kind in ("static_select", "multi_static_select", "overflow")
    values: list[Any] = []
    for j, option in enumerate(all_options):
        opath = f"{path}.options[{j}]"
        if not isinstance(option, dict):
            errors.append(f"{opath} must be an option object")
            continue
        _option(option, opath, plain_only, errors)
        values.append(option.get("value"))
    initial = element.get("initial_option")
    if isinstance(initial, dict) and initial.get("value") not in values:
        errors.append(f"{path}.initial_option must be one of the options")


def _gathered_options(element: dict[str, Any], kind: str, path: str, errors: list[str]) -> list[Any] | None:
    """The options of an element, its groups' included (their labels checked); None when they are malformed."""
    limit = MAX_OPTIONS_BY_TYPE.get(kind, MAX_OPTIONS)
    options = element.get("options")
    groups = element.get("option_groups")
    if options is None and groups is None:
        errors.append(f"{path} needs options or option_groups")
        return None
    all_options: list[Any] = []
    if options is not None:
        if not isinstance(options, list) or not 1 <= len(options) <= limit:
            errors.append(f"{path}.options must be a list of 1..{limit} options")
            return None
        all_options.extend(options)
    if groups is not None:
        if not isinstance(groups, list) or not 1 <= len(groups) <= MAX_OPTIONS:
            errors.append(f"{path}.option_groups must be a list of 1..{MAX_OPTIONS} groups")
            return None
        for g, group in enumerate(groups):
            text_object(
                group.get("label") if isinstance(group, dict) else None,
                f"{path}.option_groups[{g}].label",
                MAX_OPTION_TEXT,
                errors,
                plain_only=True,
            )
            all_options.extend(group.get("options") or [] if isinstance(group, dict) else [])
    return all_options


def _option(option: dict[str, Any], opath: str, plain_only: bool, errors: list[str]) -> None:
    """One option object: its text, value and optional description."""
    text_object(option.get("text"), f"{opath}.text", MAX_OPTION_TEXT, errors, plain_only=plain_only)
    value = option.get("value")
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_OPTION_VALUE:
        errors.append(f"{opath}.value must be a string of 1..{MAX_OPTION_VALUE} characters")
    if "description" in option:
        text_object(option["description"], f"{opath}.description", MAX_OPTION_TEXT, errors, plain_only=plain_only)


def _check_confirm(confirm: Any, path: str, errors: list[str]) -> None:
    """A confirmation dialog: title, text, confirm and deny texts within their limits, and its style."""
    if not isinstance(confirm, dict):
        errors.append(f"{path} must be a confirmation dialog object")
        return
    text_object(confirm.get("title"), f"{path}.title", 100, errors, plain_only=True)
    text_object(confirm.get("text"), f"{path}.text", 300, errors)
    text_object(confirm.get("confirm"), f"{path}.confirm", 30, errors, plain_only=True)
    text_object(confirm.get("deny"), f"{path}.deny", 30, errors, plain_only=True)
    style = confirm.get("style")
    if style is not None and style not in ("primary", "danger"):
        errors.append(f"{path}.style must be primary or danger")


# The check of each element type (types absent here need only the common checks).
ELEMENT_CHECKS: dict[str, Check] = {
    "button": _button,
    "image": _image_element,
    "plain_text_input": _plain_text_input,
    "datetimepicker": _datetimepicker,
    **{kind: _options for kind in OPTION_ELEMENTS},
}
