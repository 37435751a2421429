"""Reading /api input: the body of a new request, durations and whole-number query parameters."""

from __future__ import annotations

from datetime import timedelta

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
    break_glass: StrictBool = False  # the role's break-glass: granted at once, announced, reviewed after


def new_request(raw: bytes) -> NewRequest:
    """The body of POST /api/requests, or a 400 naming what is wrong with it."""
    try:
        return NewRequest.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        expected = '{"role", "duration", "reason", "break_glass"}'
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
