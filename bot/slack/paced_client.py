"""The bot's Slack Web API client: every call waits for its turn at the pacer, and a 429 closes its method."""

from __future__ import annotations

import math
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.pacer import NOT_SENT, POST_MESSAGE, RateLimited, SlackPacer


def conversation_of(method: str, *bodies: Any) -> str | None:
    """The channel a chat.postMessage goes to (a user ID for a DM), from its JSON, form or query body."""
    if method != POST_MESSAGE:
        return None
    for body in bodies:
        if isinstance(body, dict) and body.get("channel"):
            return str(body["channel"])
    return None


def retry_after_of(response: Any) -> float | None:
    """The Retry-After seconds of a Slack answer (None when absent or unreadable)."""
    headers = getattr(response, "headers", None) or {}
    try:
        value = float(headers.get("Retry-After") or headers.get("retry-after") or 0)
    except (TypeError, ValueError, AttributeError):
        return None
    return value or None


class PacedWebClient(AsyncWebClient):
    """An AsyncWebClient whose calls all go through one SlackPacer (shared by copies of the client)."""

    def __init__(self, *args: Any, pacer: SlackPacer, **kwargs: Any) -> None:
        """The client of `AsyncWebClient(*args, **kwargs)`, paced by `pacer`."""
        super().__init__(*args, **kwargs)
        self.pacer = pacer

    async def api_call(self, api_method: str, *, http_verb: str = "POST", files: dict | None = None,
                       data: Any = None, params: dict | None = None, json: dict | None = None,
                       headers: dict | None = None, auth: dict | None = None) -> AsyncSlackResponse:
        """Wait for the pacer, then call; a 429 (Slack's, or the pacer's own while the method is closed) is a
        SlackApiError with `Retry-After`, as Slack answers it."""
        channel = conversation_of(api_method, json, data, params)
        try:
            await self.pacer.acquire(api_method, channel)
        except RateLimited as exc:
            raise self._closed_error(api_method, http_verb, exc) from exc
        try:
            return await super().api_call(api_method, http_verb=http_verb, files=files, data=data, params=params,
                                          json=json, headers=headers, auth=auth)
        except SlackApiError as exc:
            if getattr(exc.response, "status_code", None) == 429:
                self.pacer.limited_by_slack(api_method, channel, retry_after_of(exc.response))
            raise

    def _closed_error(self, method: str, http_verb: str, exc: RateLimited) -> SlackApiError:
        """A 429 as Slack answers it, for a call the pacer held back (nothing was sent): error NOT_SENT."""
        response = AsyncSlackResponse(client=self, http_verb=http_verb, api_url=self.base_url + method, req_args={},
                                      data={"ok": False, "error": NOT_SENT},
                                      headers={"Retry-After": str(math.ceil(exc.retry_after))}, status_code=429)
        return SlackApiError(f"{method} is rate limited (not sent)", response)
