"""The Slack simulator's response_url hooks and slash command acks: where their messages go, five uses each."""

from __future__ import annotations

import asyncio
import copy
import json
import math
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.simulators.slack_common import HOOK_PREFIX, RESPONSE_URL_USES, Call, Fault, Hook, SlackError


class ResponseUrls:
    """response_url hooks (made by the driver, posted to by the app) and acks shown as Slack shows them; mixed into
    SlackSimulator, whose ``__init__`` makes the state."""

    root_url: str | None
    calls: list[Call]
    hook_posts: list[tuple[str, dict[str, Any]]]
    rejected_acks: list[tuple[str, str]]
    _hooks: dict[str, Hook]
    _messages: list[dict[str, Any]]
    _take_fault: Callable[[str], Fault | None]
    _find: Callable[[str, str], dict[str, Any] | None]
    _content: Callable[..., dict[str, Any]]
    _apply_update: Callable[..., None]
    _new_message: Callable[..., dict[str, Any]]
    dm_channel: Callable[[str], str]

    def response_url(
        self,
        tag: str,
        *,
        channel: str | None = None,
        user_id: str | None = None,
        message_ts: str | None = None,
    ) -> str:
        """A response_url on the simulator; posts to it are recorded under ``tag``.

        ``channel``/``user_id`` say where new messages go (``in_channel`` to the channel, otherwise
        ephemeral to the user); ``message_ts`` attaches a message (posted or ephemeral) in ``channel``
        so ``replace_original``/``delete_original`` act on it.
        """
        if self.root_url is None:
            raise RuntimeError("start the simulator before asking for a response_url")
        hook = self._hooks.get(tag)
        if hook is None:
            self._hooks[tag] = Hook(tag, channel, user_id, message_ts)
        else:
            hook.channel = channel or hook.channel
            hook.user_id = user_id or hook.user_id
            hook.message_ts = message_ts or hook.message_ts
        return f"{self.root_url}{HOOK_PREFIX}{tag}"

    def responses(self, tag: str) -> list[dict[str, Any]]:
        """The bodies posted to a response_url tag, in order."""
        return [copy.deepcopy(body) for t, body in self.hook_posts if t == tag]

    def deliver_ack(self, tag: str, body: str) -> None:
        """Show a slash command's acknowledgement body as Slack does (the driver calls this).

        A JSON object body is a message (``response_type`` in_channel or, by default, ephemeral); other
        non-empty text is an ephemeral message with that text; an empty body shows nothing. It is
        placed before what the command's response_url posted (Slack gets the ack first). A body Slack
        would refuse (e.g. broken blocks) shows nothing and is recorded in ``rejected_acks``.
        """
        body = body.strip()
        if not body:
            return
        try:
            message = json.loads(body)
        except ValueError:
            message = {"text": body}
        if not isinstance(message, dict):
            message = {"text": body}
        if not (message.get("text") or message.get("blocks") or message.get("attachments")):
            return
        hook = self._hooks.get(tag)
        if hook is None:
            raise KeyError(f"no response_url tag {tag!r}")
        before = len(self._messages)
        try:
            self._respond(hook, message, via="ack")
        except SlackError as exc:
            self.rejected_acks.append((tag, exc.error))
            return
        if len(self._messages) > before:
            shown = self._messages.pop()
            first = next((i for i, m in enumerate(self._messages) if m["tag"] == tag), len(self._messages))
            self._messages.insert(first, shown)

    async def _hook(self, request: web.Request) -> web.Response:
        """A POST to a response_url: five uses, then `used_url`; the body acts as Slack's would."""
        tag = request.match_info["tag"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        params = {"tag": tag, **body} if isinstance(body, dict) else {"tag": tag, "body": body}
        fault = self._take_fault("response_url")
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        hook = self._hooks.get(tag)
        status, error = 200, None
        if hook is None:
            status, error = 404, "expired_url"
        elif fault is not None and fault.error is not None:
            status, error = (fault.status if fault.status != 200 else 500), fault.error
        elif not isinstance(body, dict):
            status, error = 400, "invalid_payload"
        elif hook.uses >= RESPONSE_URL_USES:
            status, error = 404, "used_url"
        else:
            hook.uses += 1
            self.hook_posts.append((tag, copy.deepcopy(body)))
            try:
                self._respond(hook, body, via="response_url")
            except SlackError as exc:
                status, error = 400, exc.error
        response = {"ok": error is None} if error is None else {"ok": False, "error": error}
        self.calls.append(Call("response_url", params, response))
        if error is None:
            return web.json_response(response)
        headers = {}
        if error == "ratelimited" and fault is not None and fault.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(fault.retry_after))
        return web.Response(status=status, text=error, headers=headers)

    def _respond(self, hook: Hook, body: dict[str, Any], *, via: str) -> None:
        """Act on a response_url body or ack: delete or replace the original, or post a new message."""
        original = None
        if hook.message_ts and hook.channel:
            original = self._find(hook.channel, hook.message_ts)
        if body.get("delete_original") in (True, "true"):
            if original is not None:
                original["deleted"] = True
                original["updates"].append({"via": via, "deleted": True})
            return
        content = self._content(body)
        if body.get("replace_original") in (True, "true") and original is not None:
            if original["deleted"]:
                raise SlackError("message_not_found")
            self._apply_update(original, content, via=via)
            return
        channel = hook.channel or (self.dm_channel(hook.user_id) if hook.user_id else None)
        if channel is None:
            raise SlackError("channel_not_found")
        thread_ts = body.get("thread_ts") or None
        if body.get("response_type") == "in_channel":
            self._new_message(channel=channel, content=content, thread_ts=thread_ts, source=via, tag=hook.tag)
        else:
            self._new_message(
                channel=channel,
                content=content,
                thread_ts=thread_ts,
                source=via,
                ephemeral=True,
                user=hook.user_id,
                tag=hook.tag,
            )
