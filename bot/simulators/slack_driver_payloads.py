"""The payloads the Slack driver sends, as Slack builds them: slash commands, clicks, submissions, events."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.simulators.slack_sim import SlackSimulator


class DriverPayloads:
    """Builds Slack's payloads from the simulator's state; mixed into SlackDriver, whose ``__init__`` makes the
    state (``sim``, ``team_id``, ``verification_token``, the ``last_*`` fields and the counter)."""

    sim: SlackSimulator
    team_id: str
    verification_token: str
    last_response_tag: str | None
    last_event_id: str | None
    last_trigger_id: str | None
    _counter: Any

    def _tag(self, kind: str) -> str:
        """A new response_url tag of that kind, unique in this run."""
        return f"{kind}-{next(self._counter)}-{int(time.time() * 1000) % 10**8}"

    def _user(self, user_id: str) -> dict[str, Any]:
        """The user object Slack puts in a payload."""
        user = self.sim.user(user_id)
        name = user["name"] if user else user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> dict[str, Any]:
        """The team object Slack puts in a payload."""
        return {"id": self.team_id, "domain": self.sim.team_domain}

    def _trigger(self, user_id: str) -> str:
        """A fresh trigger_id from the simulator (also kept in `last_trigger_id`)."""
        self.last_trigger_id = self.sim.new_trigger_id(user_id)
        return self.last_trigger_id

    def _slash_payload(self, user_id: str, text: str, command: str, channel_id: str) -> tuple[dict[str, Any], str]:
        """A slash command's fields (what `slash` form-encodes) and its response_url tag."""
        tag = self._tag("cmd")
        self.last_response_tag = tag
        response_url = self.sim.response_url(tag, channel=channel_id, user_id=user_id)
        user = self._user(user_id)
        payload = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.sim.team_domain,
            "channel_id": channel_id,
            "channel_name": self.sim.channel_name(channel_id),
            "user_id": user_id,
            "user_name": user["name"],
            "command": command,
            "text": text,
            "api_app_id": self.sim.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self._trigger(user_id),
        }
        return payload, tag

    def _click_payload(
        self,
        user_id: str,
        message: dict[str, Any],
        action_id: str,
        *,
        value_override: str | None = None,
        block_id: str | None = None,
        value: str | None = None,
    ) -> dict[str, Any]:
        """The block_actions payload `click` sends for a button on a message."""
        block, button = find_button(message.get("blocks") or [], action_id, block_id=block_id, value=value)
        channel_id = message["channel"]
        ephemeral = bool(message.get("ephemeral"))
        tag = self._tag("act")
        self.last_response_tag = tag
        response_url = self.sim.response_url(tag, channel=channel_id, user_id=user_id, message_ts=message["ts"])
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.sim.app_id,
            "token": self.verification_token,
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel_id,
                "is_ephemeral": ephemeral,
            },
            "trigger_id": self._trigger(user_id),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": self.sim.channel_name(channel_id)},
        }
        if message.get("thread_ts"):
            payload["container"]["thread_ts"] = message["thread_ts"]
        if not ephemeral:
            payload["message"] = self._message_object(message)
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url
        payload["actions"] = [action_of(block, button, value_override)]
        return payload

    def _submission_payload(
        self, user_id: str, view: dict[str, Any], values: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The submitted view (with ``values`` as its state) and the view_submission payload carrying it."""
        full = full_view(view, self.team_id, self.sim)
        full["state"] = {"values": values}
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.sim.app_id,
            "token": self.verification_token,
            "trigger_id": self._trigger(user_id),
            "view": full,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return full, payload

    def _event_payload(self, inner_event: dict[str, Any], event_id: str | None) -> dict[str, Any]:
        """The event_callback body `event` sends."""
        now = time.time()
        event = dict(inner_event)
        event.setdefault("event_ts", f"{now:.6f}")
        event_id = event_id or f"Ev{next(self._counter):04d}{int(now * 1000) % 10**8:08d}"
        self.last_event_id = event_id
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.sim.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.sim.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{event_id}",
        }

    def _message_object(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message as Slack puts it in a block_actions payload."""
        out: dict[str, Any] = {
            "bot_id": self.sim.bot_id,
            "type": "message",
            "text": message.get("text", ""),
            "user": self.sim.bot_user_id,
            "ts": message["ts"],
            "app_id": self.sim.app_id,
            "blocks": message.get("blocks") or [],
            "team": self.team_id,
        }
        if message.get("attachments"):
            out["attachments"] = message["attachments"]
        if message.get("thread_ts"):
            out["thread_ts"] = message["thread_ts"]
        return out


def buttons(blocks: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(block, element) of every interactive element with an action_id in the blocks, in order."""
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        elements: list[Any] = []
        if block.get("type") == "actions":
            elements.extend(block.get("elements") or [])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                elements.append(block[key])
        found.extend((block, e) for e in elements if isinstance(e, dict) and e.get("action_id"))
    return found


def find_button(
    blocks: list[dict[str, Any]], action_id: str, *, block_id: str | None, value: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one button with that action_id (and block_id/value, if given); AssertionError naming what is there."""
    candidates = buttons(blocks)
    matches = [
        (b, e)
        for b, e in candidates
        if e.get("action_id") == action_id
        and (block_id is None or b.get("block_id") == block_id)
        and (value is None or e.get("value") == value)
    ]
    if not matches:
        present = [(b.get("block_id"), e.get("action_id"), e.get("value")) for b, e in candidates]
        raise AssertionError(
            f"no button with action_id {action_id!r}"
            + (f", block_id {block_id!r}" if block_id else "")
            + (f", value {value!r}" if value is not None else "")
            + f" in this message; its interactive elements (block_id, action_id, value): {present}"
        )
    if len(matches) > 1:
        present = [(b.get("block_id"), e.get("value")) for b, e in matches]
        raise AssertionError(
            f"{len(matches)} buttons have action_id {action_id!r} (block_id, value): {present}; "
            "pass block_id= or value= to pick one"
        )
    block, element = matches[0]
    if element.get("type") != "button":
        raise AssertionError(f"{action_id!r} is a {element.get('type')}, not a button")
    return block, element


def action_of(block: dict[str, Any], button: dict[str, Any], value_override: str | None) -> dict[str, Any]:
    """The `actions` entry Slack sends for a click of that button (`value_override` forges its value)."""
    action: dict[str, Any] = {
        "action_id": button["action_id"],
        "block_id": block.get("block_id"),
        "text": button.get("text"),
    }
    value = value_override if value_override is not None else button.get("value")
    if value is not None:
        action["value"] = value
    if button.get("style"):
        action["style"] = button["style"]
    action["type"] = "button"
    action["action_ts"] = f"{time.time():.6f}"
    return action


def full_view(view: dict[str, Any], team_id: str, sim: SlackSimulator) -> dict[str, Any]:
    """The view as Slack puts it in a payload, filling what a hand-written view may lack."""
    full: dict[str, Any] = {
        "id": "V0SUBMITTED",
        "team_id": team_id,
        "type": "modal",
        "blocks": [],
        "private_metadata": "",
        "callback_id": "",
        "state": {"values": {}},
        "hash": f"{int(time.time())}.sim",
        "title": {"type": "plain_text", "text": "accessbot"},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": None,
        "submit": None,
        "previous_view_id": None,
        "root_view_id": view.get("id", "V0SUBMITTED"),
        "app_id": sim.app_id,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": sim.bot_id,
    }
    full.update(json.loads(json.dumps(view)))
    return full
