"""The Slack driver over Socket Mode: the same payloads as over HTTP, pushed through the simulator's websocket."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.simulators.slack_driver_results import DriverResponse, SocketAck
from bot.simulators.slack_sim import SlackSimulator


class SocketModeDriver:
    """``socket_slash``, ``socket_click``, ``socket_view_submission`` and ``socket_event``; mixed into SlackDriver,
    which builds the payloads."""

    sim: SlackSimulator
    _slash_payload: Callable[..., tuple[dict[str, Any], str]]
    _click_payload: Callable[..., dict[str, Any]]
    _submission_payload: Callable[..., tuple[dict[str, Any], dict[str, Any]]]
    _event_payload: Callable[..., dict[str, Any]]
    _apply_view_response: Callable[..., None]

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
        """Push one envelope over the app's Socket Mode connection and wait for its ack."""
        envelope_id = await self.sim.socket_send(
            type,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )
        ack = await self.sim.socket_wait_ack(envelope_id, timeout=ack_timeout)
        return SocketAck(envelope_id, ack, ack["elapsed"])

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
