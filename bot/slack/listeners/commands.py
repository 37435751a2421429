"""The slash command surface: `/access` (no words opens the request modal)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack import commands
from bot.slack.listeners import Kit
from bot.slack.listeners.views import open_request_modal


def register(app: AsyncApp, kit: Kit) -> None:
    """Register the `/access` command's listener."""

    @app.command("/access")
    @kit.replier.answers_failures
    async def access_command(ack, command: dict[str, Any], body: dict[str, Any]) -> None:  # noqa: ANN001
        """Open the modal for an empty command, else run the command's words and answer them."""
        await ack()
        if not (command.get("text") or "").strip():
            await open_request_modal(kit, command["user_id"], command["trigger_id"])
            return
        reply = await commands.handle(kit.deps, command["user_id"], command.get("text") or "")
        await kit.replier.tell(body, reply.text, reply.blocks)
