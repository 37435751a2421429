"""Plays Slack's side of the bot's HTTP endpoint, for the tests and `accessbot demo`.

`SlackDriver` sends what Slack sends to ``POST {app_url}/slack/events``: slash commands
(form-encoded), interactivity (``payload=`` JSON in a form: block_actions, view_submission) and Events
API callbacks (JSON), each signed like Slack (HMAC-SHA256 over ``v0:{timestamp}:{body}`` with the
signing secret, in ``X-Slack-Request-Timestamp``/``X-Slack-Signature``). The payloads follow the real
samples in shared/reference/slack/samples/. Response URLs and trigger ids come from the
`SlackSimulator`, so the bot's response_url replies and ``views.open`` land there; a slash command's
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

This module sends over HTTP; `slack_driver_payloads` builds the payloads, `slack_driver_socket` sends them over
Socket Mode and `slack_driver_results` holds what both hand back.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from typing import Any

import aiohttp

from bot.simulators.slack_driver_payloads import DriverPayloads, action_of, find_button, full_view
from bot.simulators.slack_driver_results import DriverResponse, SocketAck
from bot.simulators.slack_driver_socket import SocketModeDriver
from bot.simulators.slack_sim import SlackSimulator

__all__ = ["FORM", "SLACK_USER_AGENT", "DriverResponse", "SlackDriver", "SocketAck"]

SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
FORM = "application/x-www-form-urlencoded"


class SlackDriver(DriverPayloads, SocketModeDriver):
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
        """A driver of the bot at `app_url`, signing with `signing_secret`, with the simulator's ids and views."""
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
        """Close the HTTP session."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> SlackDriver:
        """The driver."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the HTTP session."""
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
        """POST `body` signed like Slack, with Slack's user agent and any extra headers."""
        headers = {"Content-Type": content_type, "User-Agent": SLACK_USER_AGENT, **self.sign(body)}
        headers.update(extra_headers or {})
        return await self.raw(body, headers)

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
        """POST an interactivity payload as Slack does (`payload=` JSON in a form)."""
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
        block, button = find_button(view.get("blocks") or [], action_id, block_id=block_id, value=value)
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
            "view": full_view(view, self.team_id, self.sim),
            "actions": [action_of(block, button, value_override)],
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

    async def suggest(self, user_id: str, view: dict[str, Any], block_id: str, action_id: str,
                      value: str) -> DriverResponse:
        """Type `value` into an external_select of a modal: the block_suggestion Slack sends to the options URL
        (the answer's JSON is ``{"options": [...]}``)."""
        payload = {
            "type": "block_suggestion",
            "user": self._user(user_id),
            "container": {"type": "view", "view_id": view.get("id")},
            "api_app_id": self.sim.app_id,
            "token": self.verification_token,
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": full_view(view, self.team_id, self.sim),
        }
        return await self._interactive(payload)

    def _apply_view_response(self, user_id: str, view: dict[str, Any], result: DriverResponse) -> None:
        """Apply a view_submission ack to the simulator's views: update, push, or close the modal."""
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
