"""Posting to Slack's `response_url`s over one long-lived aiohttp session (bolt's `respond()` opens one per reply)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.domain.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

# Seconds one response_url POST may take, connection included.
DEFAULT_TIMEOUT = 10.0
# Connections kept open at most (Slack's hooks are one host; the pool is reused across replies).
POOL_SIZE = 100


def ephemeral(text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The body of an answer only the sender sees, leaving the message they clicked as it is."""
    message: dict[str, Any] = {"text": text, "response_type": "ephemeral", "replace_original": False}
    if blocks:
        message["blocks"] = blocks
    return message


class ResponseUrls:
    """One aiohttp session for every response_url POST: made on first use, closed by `aclose` at shutdown."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """No session yet (it is made inside the running event loop, on the first POST)."""
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.posts = 0  # POSTs sent, for tests and the benchmark

    def session(self) -> aiohttp.ClientSession:
        """The shared session (made now if there is none, or the last one was closed)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout,
                                                  connector=aiohttp.TCPConnector(limit=POOL_SIZE))
        return self._session

    async def post(self, url: str, message: dict[str, Any]) -> int:
        """POST `message` to the response_url `url` Slack gave in a signed request; returns the HTTP status.

        Slack's refusals (a used-up or expired URL: 404, …) are logged and returned, as bolt's `respond()` did;
        a URL that is not http(s) is a PermanentError; no answer in time or no connection is a TransientError.
        """
        if urlsplit(url).scheme not in ("http", "https"):
            raise PermanentError("Slack: a response_url that is not http(s)")
        self.posts += 1
        try:
            async with self.session().post(url, json=message) as resp:
                await resp.read()
                if resp.status >= 300:
                    log.warning("response_url answered HTTP %s", resp.status)
                return resp.status
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            raise TransientError(f"Slack unreachable: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        """Close the session and its connections (shutdown)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
