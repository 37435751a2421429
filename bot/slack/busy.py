"""The answer when too much acked work is in flight: "busy" at once, nothing queued.

A slash command's ack may carry a message, so the busy answer is the ack's body (Slack shows it within its
3 seconds, ephemeral). A click's ack body is ignored by Slack (only a modal submission's ack carries a
`response_action`), so a click gets the empty ack first and then a note on its response_url (valid for 30
minutes, five uses), sent in the background so it can never hold the ack back. Those notes are bounded too:
beyond `MAX_NOTES` posting at once, a click gets only the ack (and the log line).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from slack_bolt.response import BoltResponse

from bot.domain.errors import ExternalError
from bot.slack.replies import response_url
from bot.slack.response_urls import ResponseUrls, ephemeral

log = logging.getLogger(__name__)

BUSY_TEXT = "accessbot is busy; try again in a moment."
# Busy notes posted to response_urls at once, at most.
MAX_NOTES = 50


_BUSY_MESSAGE = json.dumps({"response_type": "ephemeral", "text": BUSY_TEXT})


def busy_ack(body: dict[str, Any]) -> BoltResponse | None:
    """The ack of a request turned away: the busy message for a slash command, else empty."""
    return busy_ack_for("command" if "command" in body else "other")


def busy_ack_for(kind: str) -> BoltResponse | None:
    """The ack of a request of `kind` (`bot.slack.request_log.kind_of`) turned away: the busy message for a
    slash command (its ack may carry a message, shown ephemeral), else empty."""
    if kind != "command":
        return None
    return BoltResponse(status=200, body=_BUSY_MESSAGE, headers={"content-type": "application/json"})


class BusyNotes:
    """Busy notes to clicks' response_urls, posted in the background, at most `limit` at once."""

    def __init__(self, responses: ResponseUrls, limit: int = MAX_NOTES) -> None:
        """Notes go over `responses`' session."""
        self.responses = responses
        self.limit = limit
        self._tasks: set[asyncio.Task] = set()

    def send(self, body: dict[str, Any]) -> bool:
        """Start posting the busy note to the click's response_url; False when it has none or too many are
        being posted already."""
        url = response_url(body)
        if url is None or len(self._tasks) >= self.limit:
            return False
        task = asyncio.create_task(self._post(url))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _post(self, url: str) -> None:
        """Post the note; a failure is only logged (the person clicks again)."""
        try:
            await self.responses.post(url, ephemeral(f":hourglass: {BUSY_TEXT}"))
        except ExternalError as exc:
            log.info("busy note not delivered: %s", exc)

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the notes being posted (shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
