"""The Events API surface: App Home opened."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.services import conversations
from bot.slack import blocks as bk
from bot.slack.home import publish_home
from bot.slack.listeners import Kit

log = logging.getLogger(__name__)


def register(app: AsyncApp, kit: Kit) -> None:
    """Register the event listeners."""

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        """Note that the person has seen the Home tab, and publish it afresh."""
        if not bk.USER_ID.match(str(event.get("user", ""))):
            log.info("app_home_opened without a user ID; ignored")
            return
        if event.get("tab") in (None, "home"):
            await conversations.saw_home(kit.deps, event["user"])
            await publish_home(kit.deps, kit.client, event["user"])
