"""The Slack simulator's conversations family: channel names, DM channels and ``conversations.open``."""

from __future__ import annotations

import time
from typing import Any

from bot.simulators.slack_common import SlackError


class ConversationsApi:
    """Channels (implicit, but a DM needs a live user) and ``conversations.open``; mixed into SlackSimulator,
    whose ``__init__`` makes the state."""

    _users: dict[str, dict[str, Any]]
    _channel_names: dict[str, str]

    def name_channel(self, channel_id: str, name: str) -> None:
        """Give a channel a name (only used in the payloads the driver builds)."""
        self._channel_names[channel_id] = name

    def channel_name(self, channel_id: str) -> str:
        """The channel's name as Slack puts it in payloads (``directmessage`` for DMs)."""
        if channel_id in self._channel_names:
            return self._channel_names[channel_id]
        if channel_id.startswith("D"):
            return "directmessage"
        return channel_id.lower()

    def dm_channel(self, user_id: str) -> str:
        """The id of the DM channel between the bot and a user."""
        return "D" + user_id

    def _normalize_channel(self, channel: str) -> str:
        """The DM channel for a user id; any other channel id as it is."""
        if channel[:1] in ("U", "W"):
            return self.dm_channel(channel)
        return channel

    def _post_channel(self, channel: Any) -> str:
        """The channel a message to `channel` goes to (a user id means their DM); channel_not_found otherwise."""
        if not isinstance(channel, str) or not channel:
            raise SlackError("channel_not_found")
        if channel[:1] in ("U", "W"):
            user = self._users.get(channel)
            if user is None or user["deleted"]:
                raise SlackError("channel_not_found")
            return self.dm_channel(channel)
        if channel.startswith("D"):
            user = self._users.get(channel[1:])
            if user is None or user["deleted"]:
                raise SlackError("channel_not_found")
            return channel
        if channel[:1] in ("C", "G"):
            return channel
        raise SlackError("channel_not_found")

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """`conversations.open`: the DM (or group DM) with the users given."""
        if params.get("channel"):
            return {"channel": {"id": str(params["channel"])}}
        users = params.get("users")
        if isinstance(users, list):
            users = ",".join(users)
        ids = [u.strip() for u in str(users or "").split(",") if u.strip()]
        if not ids:
            raise SlackError("users_list_not_supplied")
        for user_id in ids:
            if user_id not in self._users or self._users[user_id]["deleted"]:
                raise SlackError("user_not_found")
        if len(ids) > 1:
            return {"channel": {"id": "G" + "".join(sorted(ids))[:20], "is_mpim": True}}
        channel: dict[str, Any] = {"id": self.dm_channel(ids[0])}
        if str(params.get("return_im", "")).lower() in ("true", "1"):
            channel.update({"is_im": True, "user": ids[0], "created": int(time.time())})
        return {"no_op": True, "already_open": True, "channel": channel}
