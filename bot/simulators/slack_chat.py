"""The Slack simulator's chat family: ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral`` and the messages."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from bot.simulators.block_kit import block_kit_errors, message_text_errors
from bot.simulators.block_limits import MAX_ATTACHMENTS
from bot.simulators.slack_common import SlackError, with_ids


class ChatApi:
    """Messages (posted and ephemeral) as state, the chat methods and the queries tests make of them; mixed into
    SlackSimulator, whose ``__init__`` makes the state."""

    team_id: str
    app_id: str
    bot_id: str
    bot_user_id: str
    _messages: list[dict[str, Any]]
    _users: dict[str, dict[str, Any]]
    _random_id: Callable[..., str]
    _next_ts: Callable[[], str]
    dm_channel: Callable[[str], str]
    _normalize_channel: Callable[[str], str]
    _post_channel: Callable[[Any], str]

    def messages(self, channel: str | None = None, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Copies of the non-ephemeral messages posted (optionally in one channel), oldest first.

        A ``U…`` user id as ``channel`` means that user's DM channel.
        """
        channel = self._normalize_channel(channel) if channel else None
        return [
            copy.deepcopy(m)
            for m in self._messages
            if not m["ephemeral"]
            and (channel is None or m["channel"] == channel)
            and (include_deleted or not m["deleted"])
        ]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """A copy of the message (posted or ephemeral) with that channel and ts, or None."""
        found = self._find(self._normalize_channel(channel), ts)
        return copy.deepcopy(found) if found else None

    def dms_to(self, user_id: str) -> list[dict[str, Any]]:
        """Messages posted to the user's DM channel (thread replies included), oldest first."""
        return self.messages(self.dm_channel(user_id))

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The replies in the thread of message ``ts`` (the parent not included), oldest first."""
        return [m for m in self.messages(channel) if m["thread_ts"] == ts and m["ts"] != ts]

    def ephemerals(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Copies of the ephemeral messages shown (to one user), oldest first.

        They come from ``chat.postEphemeral``, response_url posts that are not ``in_channel`` and do
        not replace/delete an original, and slash command acknowledgement bodies.
        """
        return [
            copy.deepcopy(m)
            for m in self._messages
            if m["ephemeral"] and not m["deleted"] and (user_id is None or m["user"] == user_id)
        ]

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message (posted or ephemeral) with that channel and ts, or None."""
        for m in self._messages:
            if m["channel"] == channel and m["ts"] == ts:
                return m
        return None

    def _content(self, params: dict[str, Any], *, require: bool = True) -> dict[str, Any]:
        """Validate text/blocks/attachments of a message; the parts given."""
        content: dict[str, Any] = {}
        text = params.get("text")
        if text is not None:
            text = str(text)
            if message_text_errors(text):
                raise SlackError("msg_too_long")
            content["text"] = text
        if params.get("blocks") is not None:
            errors = block_kit_errors(params["blocks"])
            if errors:
                raise SlackError("invalid_blocks", errors=errors)
            content["blocks"] = with_ids(copy.deepcopy(params["blocks"]), self._random_id)
        if params.get("attachments") is not None:
            attachments = params["attachments"]
            if not isinstance(attachments, list):
                raise SlackError("invalid_attachments")
            if len(attachments) > MAX_ATTACHMENTS:
                raise SlackError("too_many_attachments")
            content["attachments"] = copy.deepcopy(attachments)
        if require and not (content.get("text") or content.get("blocks") or content.get("attachments")):
            raise SlackError("no_text")
        return content

    def _new_message(
        self,
        *,
        channel: str,
        content: dict[str, Any],
        thread_ts: str | None,
        source: str,
        ephemeral: bool = False,
        user: str | None = None,
        tag: str | None = None,
        metadata: Any = None,
    ) -> dict[str, Any]:
        """Record a new message (posted or ephemeral) and return it."""
        message = {
            "channel": channel,
            "ts": self._next_ts(),
            "thread_ts": thread_ts,
            "text": content.get("text", ""),
            "blocks": content.get("blocks", []),
            "attachments": content.get("attachments", []),
            "metadata": metadata,
            "ephemeral": ephemeral,
            "user": user,
            "deleted": False,
            "source": source,
            "tag": tag,
            "updates": [],
        }
        self._messages.append(message)
        return message

    def _apply_update(self, message: dict[str, Any], content: dict[str, Any], *, via: str) -> None:
        """Replace the parts of a message given in `content`, keeping the change in its `updates`."""
        for key in ("text", "blocks", "attachments"):
            if key in content:
                message[key] = content[key]
        message["updates"].append(
            {
                "via": via,
                "text": message["text"],
                "blocks": copy.deepcopy(message["blocks"]),
                "attachments": copy.deepcopy(message["attachments"]),
            }
        )

    def _check_thread(self, channel: str, thread_ts: Any) -> str | None:
        """The thread_ts of a reply, which must name a message in the channel; None for no thread."""
        if thread_ts in (None, ""):
            return None
        thread_ts = str(thread_ts)
        if self._find(channel, thread_ts) is None:
            raise SlackError("thread_not_found")
        return thread_ts

    def _slack_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message object as Slack returns it from chat.postMessage/chat.update."""
        out: dict[str, Any] = {
            "bot_id": self.bot_id,
            "type": "message",
            "text": message["text"],
            "user": self.bot_user_id,
            "ts": message["ts"],
            "app_id": self.app_id,
            "blocks": copy.deepcopy(message["blocks"]),
            "team": self.team_id,
        }
        if message["attachments"]:
            out["attachments"] = copy.deepcopy(message["attachments"])
        if message["thread_ts"]:
            out["thread_ts"] = message["thread_ts"]
        return out

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """`chat.postMessage`: post to a channel or a user's DM, optionally in a thread."""
        channel = self._post_channel(params.get("channel"))
        content = self._content(params)
        thread_ts = self._check_thread(channel, params.get("thread_ts"))
        message = self._new_message(
            channel=channel,
            content=content,
            thread_ts=thread_ts,
            source="chat.postMessage",
            metadata=params.get("metadata"),
        )
        return {"channel": channel, "ts": message["ts"], "message": self._slack_message(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        """`chat.update`: change a posted message (by channel and ts)."""
        channel, ts = params.get("channel"), params.get("ts")
        if not channel:
            raise SlackError("channel_not_found")
        message = self._find(str(channel), str(ts)) if ts else None
        if message is None or message["ephemeral"] or message["deleted"]:
            raise SlackError("message_not_found")
        content = self._content(params, require=False)
        if not content:
            raise SlackError("no_text")
        self._apply_update(message, content, via="chat.update")
        return {
            "channel": message["channel"],
            "ts": message["ts"],
            "text": message["text"],
            "message": self._slack_message(message),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        """`chat.postEphemeral`: show a message to one user in a channel."""
        user_id = params.get("user")
        user = self._users.get(str(user_id)) if user_id else None
        if user is None or user["deleted"]:
            raise SlackError("user_not_found")
        channel = self._post_channel(params.get("channel"))
        content = self._content(params)
        thread_ts = self._check_thread(channel, params.get("thread_ts"))
        message = self._new_message(
            channel=channel,
            content=content,
            thread_ts=thread_ts,
            source="chat.postEphemeral",
            ephemeral=True,
            user=str(user_id),
        )
        return {"message_ts": message["ts"]}
