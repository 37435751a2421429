"""The request modal (`/access` with no text, or the Home tab's button) and reading its submission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.policy import Role
from bot.slack.text import cut

CALLBACK = "access_request_modal"


def request_modal(roles: list[Role]) -> dict[str, Any]:
    """The modal: role (a select with descriptions and limits), duration (blank: the role's default), reason."""
    options = [{
        "text": {"type": "plain_text", "text": cut(r.name, 75)},
        "value": r.name,
        "description": {"type": "plain_text", "text": cut(
            (r.description + " · " if r.description else "") + r.limits_text(), 75)},
    } for r in roles[:100]]
    return {
        "type": "modal",
        "callback_id": CALLBACK,
        "title": {"type": "plain_text", "text": "Request access"},
        "submit": {"type": "plain_text", "text": "Request"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "role", "label": {"type": "plain_text", "text": "Role"},
             "element": {"type": "static_select", "action_id": "value", "options": options,
                         "placeholder": {"type": "plain_text", "text": "Choose a role"}}},
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
        element = block_values.get("value") if isinstance(block_values, dict) else None
        if not isinstance(element, dict):
            return ""
        if element.get("type") == "static_select":
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
