"""Plays Slack's side of the bot's HTTP endpoint, for the tests and `accessbot demo`.

`SlackDriver` sends what Slack sends to ``POST {app_url}/slack/events``: slash commands
(form-encoded), interactivity (``payload=`` JSON in a form: block_actions, view_submission) and Events
API callbacks (JSON), each signed like Slack (HMAC-SHA256 over ``v0:{timestamp}:{body}`` with the
signing secret, in ``X-Slack-Request-Timestamp``/``X-Slack-Signature``). The payloads follow the real
samples in shared/reference/slack/samples/. Response URLs and trigger ids come from the
`SlackSimulator`, so the bot's ``respond()`` and ``views.open`` land there; a slash command's
acknowledgement body is shown as Slack shows it (an ephemeral message, via ``sim.deliver_ack``), and
a view_submission's ``response_action`` (update/push) is applied to the simulator's views.

    driver = SlackDriver(app_url, signing_secret, sim)
    r = await driver.slash("U1", "request grafana-admin 2h on call")
    assert r.status == 200 and r.elapsed < 3
    approval = sim.messages("C0APPROVALS")[-1]
    await driver.click("U2", approval, "approve")
    await driver.close()

Over Socket Mode the same payloads go through the simulator's websocket instead (the app connected
to it with ``apps.connections.open``): ``socket_slash``, ``socket_click``, ``socket_view_submission``
and ``socket_event`` return a `SocketAck` (envelope_id, the app's ack, seconds until it came).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, NamedTuple

import aiohttp

from bot.simulators.slack_sim import SlackSimulator

SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class DriverResponse:
    """The bot's answer: HTTP status, body text, the body parsed as JSON (None if not JSON), seconds taken."""

    status: int
    body: str
    json: Any | None
    elapsed: float


class SocketAck(NamedTuple):
    """One Socket Mode envelope's answer: its envelope_id, the app's ack (``sim.socket_acks`` entry:
    ``envelope_id``, ``payload``, ``at``, ``elapsed``, ``connection``) and the seconds the ack took."""

    envelope_id: str
    ack: dict[str, Any]
    elapsed: float


class SlackDriver:
    """Sends signed Slack requests to the bot's ``/slack/events`` endpoint."""

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        sim: SlackSimulator,
        *,
        team_id: str = "T0ACCESS",
        timeout: float = 30.0,
    ) -> None:
        self.app_url = app_url.rstrip("/")
        self.url = self.app_url + "/slack/events"
        self.signing_secret = signing_secret
        self.sim = sim
        self.team_id = team_id
        self.timeout = timeout
        self.verification_token = "verification_token"
        self.last_response_tag: str | None = None
        self.last_event_id: str | None = None
        self.last_trigger_id: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._counter = itertools.count(1)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> SlackDriver:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- signing ---------------------------------------------------------------------------------

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Slack's signature headers for ``body`` (now, unless ``timestamp`` is given)."""
        ts = int(time.time()) if timestamp is None else int(timestamp)
        base = b"v0:" + str(ts).encode() + b":" + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}

    # -- requests --------------------------------------------------------------------------------

    async def raw(self, body: bytes, headers: dict[str, str]) -> DriverResponse:
        """POST ``body`` with exactly these headers (no signing): for forged or malformed requests."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        started = time.perf_counter()
        async with self._session.post(self.url, data=body, headers=headers) as response:
            text = await response.text()
            status = response.status
        elapsed = time.perf_counter() - started
        parsed: Any | None = None
        if text:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        return DriverResponse(status, text, parsed, elapsed)

    async def _send(
        self, body: bytes, content_type: str, extra_headers: dict[str, str] | None = None
    ) -> DriverResponse:
        headers = {"Content-Type": content_type, "User-Agent": SLACK_USER_AGENT, **self.sign(body)}
        headers.update(extra_headers or {})
        return await self.raw(body, headers)

    def _tag(self, kind: str) -> str:
        return f"{kind}-{next(self._counter)}-{int(time.time() * 1000) % 10**8}"

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.sim.user(user_id)
        name = user["name"] if user else user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self.sim.team_domain}

    def _trigger(self, user_id: str) -> str:
        self.last_trigger_id = self.sim.new_trigger_id(user_id)
        return self.last_trigger_id

    async def slash(
        self, user_id: str, text: str, *, command: str = "/access", channel_id: str = "C0GENERAL"
    ) -> DriverResponse:
        """A slash command as Slack sends it; its ack body is shown like Slack shows it."""
        fields, tag = self._slash_payload(user_id, text, command, channel_id)
        result = await self._send(urllib.parse.urlencode(list(fields.items())).encode(), FORM)
        if result.status == 200:
            self.sim.deliver_ack(tag, result.body)
        return result

    async def _interactive(self, payload: dict[str, Any]) -> DriverResponse:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return await self._send(body, FORM)

    async def click(
        self,
        user_id: str,
        message: dict[str, Any],
        action_id: str,
        *,
        value_override: str | None = None,
        block_id: str | None = None,
        value: str | None = None,
    ) -> DriverResponse:
        """Click the button ``action_id`` on a message the bot posted (from ``sim.messages()`` or
        ``sim.ephemerals()``), as Slack sends it (block_actions). ``block_id``/``value`` pick one of
        several buttons sharing an action_id; ``value_override`` forges the value sent."""
        payload = self._click_payload(user_id, message, action_id, value_override=value_override,
                                      block_id=block_id, value=value)
        return await self._interactive(payload)

    async def click_view(
        self,
        user_id: str,
        view: dict[str, Any],
        action_id: str,
        *,
        value_override: str | None = None,
        block_id: str | None = None,
        value: str | None = None,
    ) -> DriverResponse:
        """Click a button in a view (the Home tab, or a modal) from ``sim.home()``/``sim.views``."""
        block, button = _find_button(view.get("blocks") or [], action_id, block_id=block_id, value=value)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.sim.app_id,
            "token": self.verification_token,
            "container": {"type": "view", "view_id": view.get("id")},
            "trigger_id": self._trigger(user_id),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": _full_view(view, self.team_id, self.sim),
            "actions": [_action(block, button, value_override)],
        }
        return await self._interactive(payload)

    async def view_submission(
        self, user_id: str, view: dict[str, Any], values: dict[str, Any]
    ) -> DriverResponse:
        """Submit a modal, as Slack sends it; ``values`` is ``view.state.values``:
        ``{block_id: {action_id: {"type": "plain_text_input", "value": "..."}}}``.

        The ack's ``response_action`` is applied to the simulator's views (``update``/``push``); an
        empty ack closes the modal (its id goes to ``sim.closed_view_ids``).
        """
        full, payload = self._submission_payload(user_id, view, values)
        result = await self._interactive(payload)
        if result.status == 200:
            self._apply_view_response(user_id, full, result)
        return result

    def _submission_payload(
        self, user_id: str, view: dict[str, Any], values: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The submitted view (with ``values`` as its state) and the view_submission payload carrying it."""
        full = _full_view(view, self.team_id, self.sim)
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

    def _apply_view_response(self, user_id: str, view: dict[str, Any], result: DriverResponse) -> None:
        view_id = view.get("id")
        action = result.json.get("response_action") if isinstance(result.json, dict) else None
        if action == "errors":
            return
        if action == "update" and view_id and self.sim.view(view_id):
            self.sim.replace_view(view_id, result.json["view"])
        elif action == "push" and view_id:
            self.sim.push_view(user_id, result.json["view"], previous=view_id)
        elif view_id:
            self.sim.closed_view_ids.add(view_id)

    async def event(
        self,
        inner_event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> DriverResponse:
        """An Events API callback wrapping ``inner_event``; pass the same ``event_id`` with
        ``retry_num`` to play Slack's retries (``X-Slack-Retry-Num``/``X-Slack-Retry-Reason``)."""
        body = self._event_payload(inner_event, event_id)
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return await self._send(json.dumps(body).encode(), "application/json", headers)

    async def app_home_opened(
        self, user_id: str, *, tab: str = "home", event_id: str | None = None, retry_num: int | None = None
    ) -> DriverResponse:
        """The ``app_home_opened`` event (with the published view, as Slack includes it once there is one)."""
        inner: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.sim.dm_channel(user_id),
            "tab": tab,
        }
        home = self.sim.home(user_id)
        if tab == "home" and home is not None:
            inner["view"] = home
        return await self.event(inner, event_id=event_id, retry_num=retry_num)

    async def url_verification(self, challenge: str) -> DriverResponse:
        """Slack's URL verification handshake."""
        body = {"token": self.verification_token, "challenge": challenge, "type": "url_verification"}
        return await self._send(json.dumps(body).encode(), "application/json")

    # -- Socket Mode -------------------------------------------------------------------------------

    async def _socket(
        self,
        type: str,  # noqa: A002 - Slack's field name
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
        ack_timeout: float = 5.0,
    ) -> SocketAck:
        envelope_id = await self.sim.socket_send(
            type,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )
        ack = await self.sim.socket_wait_ack(envelope_id, timeout=ack_timeout)
        return SocketAck(envelope_id, ack, ack["elapsed"])

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

    async def socket_slash(
        self,
        user_id: str,
        text: str,
        *,
        command: str = "/access",
        channel_id: str = "C0GENERAL",
        ack_timeout: float = 5.0,
    ) -> SocketAck:
        """A slash command over Socket Mode (``slash_commands``); an ack payload is shown like Slack shows it."""
        payload, tag = self._slash_payload(user_id, text, command, channel_id)
        result = await self._socket("slash_commands", payload, accepts_response_payload=True, ack_timeout=ack_timeout)
        if result.ack.get("payload"):
            self.sim.deliver_ack(tag, json.dumps(result.ack["payload"]))
        return result

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
        block, button = _find_button(message.get("blocks") or [], action_id, block_id=block_id, value=value)
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
        payload["actions"] = [_action(block, button, value_override)]
        return payload

    async def socket_click(
        self,
        user_id: str,
        message: dict[str, Any],
        action_id: str,
        *,
        value_override: str | None = None,
        block_id: str | None = None,
        value: str | None = None,
        ack_timeout: float = 5.0,
    ) -> SocketAck:
        """Click a button on a message over Socket Mode (``interactive``, block_actions); as `click`."""
        payload = self._click_payload(
            user_id, message, action_id, value_override=value_override, block_id=block_id, value=value
        )
        return await self._socket("interactive", payload, ack_timeout=ack_timeout)

    async def socket_view_submission(
        self, user_id: str, view: dict[str, Any], values: dict[str, Any], *, ack_timeout: float = 5.0
    ) -> SocketAck:
        """Submit a modal over Socket Mode; the ack payload's ``response_action`` is applied as `view_submission`
        applies the HTTP answer's."""
        full, payload = self._submission_payload(user_id, view, values)
        result = await self._socket("interactive", payload, accepts_response_payload=True, ack_timeout=ack_timeout)
        body = result.ack.get("payload")
        self._apply_view_response(user_id, full, DriverResponse(200, json.dumps(body or ""), body, result.elapsed))
        return result

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

    async def socket_event(
        self,
        inner_event: dict[str, Any],
        event_id: str | None = None,
        retry_attempt: int = 0,
        *,
        retry_reason: str | None = None,
        ack_timeout: float = 5.0,
    ) -> SocketAck:
        """An Events API envelope wrapping ``inner_event``; the same ``event_id`` with ``retry_attempt`` > 0
        plays Slack's redelivery (``retry_reason`` defaults to ``timeout`` then)."""
        payload = self._event_payload(inner_event, event_id)
        reason = retry_reason if retry_reason is not None else ("timeout" if retry_attempt else "")
        return await self._socket(
            "events_api", payload, retry_attempt=retry_attempt, retry_reason=reason, ack_timeout=ack_timeout
        )

    def _message_object(self, message: dict[str, Any]) -> dict[str, Any]:
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


def _buttons(blocks: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
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


def _find_button(
    blocks: list[dict[str, Any]], action_id: str, *, block_id: str | None, value: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    candidates = _buttons(blocks)
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


def _action(block: dict[str, Any], button: dict[str, Any], value_override: str | None) -> dict[str, Any]:
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


def _full_view(view: dict[str, Any], team_id: str, sim: SlackSimulator) -> dict[str, Any]:
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
