"""Reading /api input: the body of a new request, durations, whole-number query parameters and page cursors."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, ValidationError

from bot.api.render import ApiFailure
from bot.domain.durations import DurationError, parse_duration


class NewRequest(BaseModel):
    """The body of POST /api/requests."""

    model_config = ConfigDict(extra="forbid")
    role: StrictStr
    duration: StrictStr | StrictInt | None = None
    reason: StrictStr = ""
    starts_at: StrictStr | None = None  # a scheduled start: ISO 8601 (with Z or an offset; else the person's zone)
    break_glass: StrictBool = False  # the role's break-glass: granted at once, announced, reviewed after


def new_request(raw: bytes) -> NewRequest:
    """The body of POST /api/requests, or a 400 naming what is wrong with it."""
    try:
        return NewRequest.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        expected = '{"role", "duration", "reason", "starts_at", "break_glass"}'
        raise ApiFailure(400, "bad_request", f"expected {expected}: {problems}") from None


def duration(value: str | int | None) -> timedelta | None:
    """A duration as written in the policy (`2h`, `1h30m`) or in seconds; None means the role's default."""
    if value is None:
        return None
    if isinstance(value, int):
        if not 0 < value <= 10 * 366 * 86400:
            raise ApiFailure(400, "bad_request", "duration: seconds must be positive and under ten years")
        return timedelta(seconds=value)
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ApiFailure(400, "bad_request", f"duration: {exc}") from None


def whole_number(request: web.Request, name: str, default: int, low: int, high: int | None) -> int:
    """The query parameter `name` as a whole number from `low` to `high` (`default` when absent), else a 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12 or int(raw) < low or (high and int(raw) > high):
        top = f" to {high}" if high else " or more"
        raise ApiFailure(400, "bad_request", f"{name} is a whole number, {low}{top}")
    return int(raw)


def grants_cursor(after: tuple[datetime, str]) -> str:
    """The opaque `next_cursor` of /api/grants: the last grant's creation time and ID, base64url-encoded."""
    return base64.urlsafe_b64encode(f"{after[0].isoformat()}|{after[1]}".encode()).decode().rstrip("=")


def after_cursor(request: web.Request) -> tuple[datetime, str] | None:
    """The `cursor` query parameter (a `next_cursor` given earlier) as (creation time, ID); None when absent;
    a 400 when it is not a cursor this API gave out."""
    raw = request.query.get("cursor", "")
    if not raw:
        return None
    try:
        if len(raw) > 200:
            raise ValueError("too long")
        at_text, _, grant_id = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().partition("|")
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None or not 0 < len(grant_id) <= 16 or not grant_id.isascii() or not grant_id.isprintable():
            raise ValueError("not a grant cursor")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApiFailure(400, "bad_request", "cursor is not one this API gave out: pass the next_cursor of the "
                         "previous page unchanged, or leave cursor out for the first page") from None
    return at, grant_id
