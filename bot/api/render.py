"""Use-case outcomes and failures as /api answers: JSON with a stable `error` code and a plain-text `message`."""

from __future__ import annotations

from aiohttp import web

from bot.domain.outcomes import Refused
from bot.domain.wording import explain


class ApiFailure(Exception):
    """An answer other than success: HTTP status, error code and words for the caller."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def refusal(refused: Refused) -> ApiFailure:
    """A use case's refusal as an /api failure: 403 when the person may not ask at all, else 422."""
    return ApiFailure(403 if refused.code == "not_allowed" else 422, refused.code, explain(refused))


def failure_json(failure: ApiFailure) -> web.Response:
    """The JSON answer of a failure."""
    return web.json_response({"error": failure.code, "message": failure.message}, status=failure.status)
