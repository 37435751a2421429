"""Answering the person behind a command or a click, with or without a `response_url`.

Slash commands and clicks on messages carry a `response_url`; clicks on the App Home tab (and on views)
do not. Every answer goes through `Replier.tell`: to the response_url when there is one (over the bot's one
shared session, `bot.slack.response_urls`; bolt's `respond()` opened a session per reply), else an
ephemeral message in the channel the click came from, else a DM; a click on the Home tab also has the
Home view published again, so it shows the vote or the revocation.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.errors import ExternalError
from bot.domain.outcomes import Outcome
from bot.services.context import Deps
from bot.services.requests import audit_refusal
from bot.slack.errors import call
from bot.slack.home import publish_home
from bot.slack.render import slack_answer
from bot.slack.request_log import set_outcome
from bot.slack.response_urls import ResponseUrls, ephemeral
from bot.slack.text import cut, inert

log = logging.getLogger(__name__)


def response_url(body: dict[str, Any]) -> str | None:
    """The response_url Slack gave with this command or click, if any."""
    url = body.get("response_url")
    if not url:
        urls = body.get("response_urls") or []
        url = urls[0].get("response_url") if urls and isinstance(urls[0], dict) else None
    return url if isinstance(url, str) and url else None


def from_home(body: dict[str, Any]) -> bool:
    """True for a click on the App Home tab."""
    view = body.get("view")
    return isinstance(view, dict) and view.get("type") == "home"


def _user(body: dict[str, Any]) -> str:
    user = body.get("user")
    return str(user.get("id", "")) if isinstance(user, dict) else str(body.get("user_id", ""))


def _channel(body: dict[str, Any]) -> str | None:
    channel = body.get("channel")
    if isinstance(channel, dict) and channel.get("id"):
        return str(channel["id"])
    container = body.get("container")
    if isinstance(container, dict) and container.get("channel_id"):
        return str(container["channel_id"])
    return str(body["channel_id"]) if body.get("channel_id") else None


class Replier:
    """Answers the sender of a Slack request, whatever surface it came from."""

    def __init__(self, deps: Deps, client: AsyncWebClient, responses: ResponseUrls) -> None:
        """Answers through `client` (Web API) and `responses` (response_urls)."""
        self.deps = deps
        self.client = client
        self.responses = responses

    async def tell(self, body: dict[str, Any], text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """An answer only the sender sees; a Home-tab click also refreshes their Home view."""
        user = _user(body)
        if url := response_url(body):
            await self.responses.post(url, ephemeral(text, blocks))
        elif (channel := _channel(body)) and not from_home(body):
            await call(self.client.chat_postEphemeral, channel=channel, user=user, text=text, blocks=blocks)
        else:
            await call(self.client.chat_postMessage, channel=user, text=text, blocks=blocks)
        if from_home(body) and user:
            await publish_home(self.deps, self.client, user)

    async def outcome(self, body: dict[str, Any], out: Outcome) -> None:
        """A use case's outcome as an answer, leaving the clicked message as it is."""
        set_outcome("ok" if out.ok else "refused")
        await self.tell(body, slack_answer(out))

    async def refused(self, body: dict[str, Any], code: str, reason: str,
                      details: dict[str, Any] | None = None) -> None:
        """Audit a click the bot cannot act on (its code and these words) and tell the person the words."""
        await audit_refusal(self.deps, _user(body) or "", code, reason, details=details)
        set_outcome("refused")
        await self.tell(body, f":warning: {reason}")

    def answers_failures(self, listener: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """When Slack or Cloudflare fails mid-listener, the person still gets an answer (and nothing is lost)."""

        @functools.wraps(listener)
        async def guarded(**kwargs: Any) -> None:
            try:
                await listener(**kwargs)
            except ExternalError as exc:
                set_outcome("failed")
                log.warning("listener %s: %s", listener.__name__, exc)
                body = kwargs.get("body") or kwargs.get("command") or {}
                try:
                    await self.tell(body, f":warning: I could not finish that: {inert(cut(str(exc), 300))}. "
                                    "Nothing was changed; please try again in a minute.")
                except ExternalError as again:
                    log.warning("listener %s: could not tell the user either: %s", listener.__name__, again)

        return guarded
