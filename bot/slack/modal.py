"""The request modal (`/access` with no text, or the Home tab's button) and reading its submission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.policy import Role
from bot.slack.text import cut

CALLBACK = "access_request_modal"


ROLE_SEARCH = "access_role_search"  # the action_id of the searchable role menu
MAX_OPTIONS = 100  # Slack's limit on a select's options (and on an options-load answer)


def role_option(r: Role) -> dict[str, Any]:
    """One role as a select option: its name, and its description and limits underneath."""
    return {"text": {"type": "plain_text", "text": cut(r.name, 75)}, "value": r.name,
            "description": {"type": "plain_text", "text": cut(
                (r.description + " · " if r.description else "") + r.limits_text(), 75)}}


def role_options(roles: list[Role], query: str) -> list[dict[str, Any]]:
    """The options a search of the role menu answers: roles whose name or description contains every word
    typed (any case), names starting with the text first, at most Slack's 100."""
    words = query.casefold().split()
    found = [r for r in roles if all(w in f"{r.name} {r.description}".casefold() for w in words)]
    first = query.strip().casefold()
    found.sort(key=lambda r: (not r.name.startswith(first), r.name))
    return [role_option(r) for r in found[:MAX_OPTIONS]]


def role_menu(roles: list[Role]) -> dict[str, Any]:
    """The role menu: a static select of every role up to Slack's 100; past that, a select that searches as
    the person types (external_select, answered by `role_options`)."""
    if len(roles) <= MAX_OPTIONS:
        return {"type": "static_select", "action_id": "value", "options": [role_option(r) for r in roles],
                "placeholder": {"type": "plain_text", "text": "Choose a role"}}
    return {"type": "external_select", "action_id": ROLE_SEARCH, "min_query_length": 0,
            "placeholder": {"type": "plain_text", "text": f"Type to search {len(roles)} roles"}}


def request_modal(roles: list[Role]) -> dict[str, Any]:
    """The modal: role (a select with descriptions and limits), duration (blank: the role's default), reason."""
    return {
        "type": "modal",
        "callback_id": CALLBACK,
        "title": {"type": "plain_text", "text": "Request access"},
        "submit": {"type": "plain_text", "text": "Request"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "role", "label": {"type": "plain_text", "text": "Role"},
             "element": role_menu(roles)},
            {"type": "input", "block_id": "duration", "optional": True,
             "label": {"type": "plain_text", "text": "Duration"},
             "hint": {"type": "plain_text", "text": "e.g. 30m, 2h, 1h30m; empty means the role's default"},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 20}},
            {"type": "input", "block_id": "reason", "optional": True,
             "label": {"type": "plain_text", "text": "Reason"},
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                         "max_length": 3000}},
            # scheduled start: approved ahead, applied at this time (Slack shows it in the person's timezone)
            {"type": "input", "block_id": "starts", "optional": True,
             "label": {"type": "plain_text", "text": "Start later (optional)"},
             "hint": {"type": "plain_text", "text": "empty: as soon as it is approved; else approved ahead and "
                                                    "applied at this time"},
             "element": {"type": "datetimepicker", "action_id": "value"}},
        ],
    }


def _start(values: dict[str, Any], now: datetime | None) -> tuple[str | None, str]:
    """The datetimepicker's time as ISO 8601 UTC (None when empty), and what is wrong with it (or "")."""
    block = values.get("starts") if isinstance(values, dict) else None
    element = block.get("value") if isinstance(block, dict) else None
    picked = element.get("selected_date_time") if isinstance(element, dict) else None
    if picked is None:
        return None, ""
    if isinstance(picked, bool) or not isinstance(picked, int) or not 0 < picked < 4102444800:  # before 2100
        return None, "Pick a date and a time"
    at = datetime.fromtimestamp(picked, UTC)
    if now is not None and at <= now:
        return None, "Pick a time in the future, or leave it empty to start when approved"
    return at.isoformat().replace("+00:00", "Z"), ""


def read_submission(values: dict[str, Any], roles: dict[str, Role],
                    now: datetime | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """(role, duration, reason, start) from the modal's state, and errors by block_id for Slack to show."""
    def value(block: str) -> str:
        """The text of one input as Slack sent it back; anything not shaped as Slack shapes it reads as ""."""
        block_values = values.get(block) if isinstance(values, dict) else None
        element = (block_values.get("value") or block_values.get(ROLE_SEARCH)) \
            if isinstance(block_values, dict) else None
        if not isinstance(element, dict):
            return ""
        if element.get("type") in ("static_select", "external_select"):
            option = element.get("selected_option")
            element = option if isinstance(option, dict) else {}
        found = element.get("value")
        return found if isinstance(found, str) else ""

    errors: dict[str, str] = {}
    role_name = value("role") or ""
    role = roles.get(role_name)
    if role is None:
        errors["role"] = "Choose one of the roles in the list"
    duration: timedelta | None = None
    text = (value("duration") or "").strip()
    if text:
        try:
            duration = parse_duration(text)
        except DurationError as exc:
            errors["duration"] = cut(str(exc), 150)
    if role is not None and duration is not None and not errors \
            and (duration < role.min_duration or duration > role.max_duration):
        errors["duration"] = f"{format_duration(duration)} is outside {role.limits_text()}"
    reason = (value("reason") or "").strip()
    if role is not None and role.require_reason and not reason:
        errors["reason"] = f"{role.name} needs a reason"
    start, problem = _start(values, now)
    if problem:
        errors["starts"] = problem
    return {"role": role_name, "duration": duration, "reason": reason, "start": start}, errors


EXTEND_CALLBACK = "access_extend_modal"


def extend_modal(grant_id: str, role: Role, ends: str) -> dict[str, Any]:
    """The small Extend modal: how much longer (the role's default filled in) and why (required when the role
    requires a reason); the grant it extends rides in private_metadata."""
    return {
        "type": "modal",
        "callback_id": EXTEND_CALLBACK,
        "private_metadata": grant_id,
        "title": {"type": "plain_text", "text": "Extend access"},
        "submit": {"type": "plain_text", "text": "Ask"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(
                f"Grant `{grant_id}` on `{role.name}` ends {ends}. {role.limits_text()}.", 2000)}]},
            {"type": "input", "block_id": "duration", "label": {"type": "plain_text", "text": "How much longer"},
             "hint": {"type": "plain_text", "text": "e.g. 30m, 1h"},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 20,
                         "initial_value": format_duration(role.default_duration)}},
            {"type": "input", "block_id": "reason", "optional": not role.require_reason,
             "label": {"type": "plain_text", "text": "Reason"},
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                         "max_length": 3000}},
        ],
    }


def read_extend(values: dict[str, Any], role: Role | None) -> tuple[dict[str, Any], dict[str, str]]:
    """(duration, reason) from the Extend modal's state, and errors by block_id for Slack to show."""
    errors: dict[str, str] = {}
    text = _text_of(values, "duration").strip()
    duration: timedelta | None = None
    try:
        duration = parse_duration(text)
    except DurationError as exc:
        errors["duration"] = cut(str(exc), 150)
    reason = _text_of(values, "reason").strip()
    if role is None:
        errors["duration"] = "The grant's role is no longer in the policy"
    elif role.require_reason and not reason:
        errors["reason"] = f"{role.name} needs a reason"
    return {"duration": duration, "reason": reason}, errors


def _text_of(values: dict[str, Any], block: str) -> str:
    """The text of one plain-text input as Slack sent it back; anything not shaped as Slack shapes it reads as ""."""
    block_values = values.get(block) if isinstance(values, dict) else None
    element = block_values.get("value") if isinstance(block_values, dict) else None
    found = element.get("value") if isinstance(element, dict) else None
    return found if isinstance(found, str) else ""
