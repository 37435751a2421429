"""The Slack simulator's Socket Mode: ``apps.connections.open``, the websocket, envelopes out and acks in."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.simulators.slack_common import SOCKET_METHOD, SOCKET_PREFIX, Call, Fault, bearer, read_params


@dataclass
class SocketConn:
    """One Socket Mode websocket the app opened."""

    id: int
    ticket: str
    ws: web.WebSocketResponse
    opened: float
    closed: float | None = None
    draining: bool = False  # told to disconnect; Slack sends new envelopes elsewhere
    received: list[dict[str, Any]] = field(default_factory=list)


class SocketModeApi:
    """Socket Mode connections, what went over them and the test's controls; mixed into SlackSimulator, whose
    ``__init__`` makes the state."""

    token: str
    app_token: str
    app_id: str
    root_url: str | None
    calls: list[Call]
    socket_acks: list[dict[str, Any]]
    socket_envelopes: list[dict[str, Any]]
    socket_received: list[dict[str, Any]]
    _socket_tickets: set[str]
    _socket_conns: list[SocketConn]
    _socket_sent_at: dict[str, float]
    _socket_ack_waiters: dict[str, list[asyncio.Future[dict[str, Any]]]]
    _socket_changed: asyncio.Event
    _socket_closers: set[asyncio.Future[None]]
    _take_fault: Callable[[str], Fault | None]

    async def _apps_connections_open(self, request: web.Request) -> web.Response:
        """``apps.connections.open``: a one-use websocket URL, for the app-level token only."""
        params, _ = await read_params(request)
        token = bearer(request) or params.pop("token", None)
        params.pop("token", None)
        fault = self._take_fault(SOCKET_METHOD)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        status, headers = 200, {}
        if not token:
            response: dict[str, Any] = {"ok": False, "error": "not_authed"}
        elif token != self.app_token:
            wrong_type = token == self.token or token.startswith(("xoxb-", "xoxp-"))
            response = {"ok": False, "error": "not_allowed_token_type" if wrong_type else "invalid_auth"}
        elif fault is not None and fault.error is not None:
            status = fault.status
            response = {"ok": False, "error": fault.error}
            if fault.error == "ratelimited" and fault.retry_after is not None:
                headers["Retry-After"] = str(math.ceil(fault.retry_after))
        else:
            assert self.root_url is not None
            ticket = uuid.uuid4().hex
            self._socket_tickets.add(ticket)
            url = "ws" + self.root_url[len("http"):] + SOCKET_PREFIX + ticket
            response = {"ok": True, "url": url}
        self.calls.append(Call(SOCKET_METHOD, params, copy.deepcopy(response)))
        return web.json_response(response, status=status, headers=headers)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        """The websocket behind a ticket: ``hello``, then envelopes out and acks in."""
        ticket = request.match_info["ticket"]
        if ticket not in self._socket_tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        self._socket_tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = SocketConn(id=len(self._socket_conns) + 1, ticket=ticket, ws=ws, opened=time.monotonic())
        self._socket_conns.append(conn)
        try:
            await ws.send_json({
                "type": "hello",
                "num_connections": sum(1 for c in self._socket_conns if c.closed is None),
                "debug_info": {"host": "applink-sim", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            })
            self._socket_signal()
            async for msg in ws:
                if msg.type != web.WSMsgType.TEXT:
                    continue
                self._socket_frame(conn, msg.data)
        finally:
            conn.closed = time.monotonic()
            self._socket_signal()
        return ws

    def _socket_frame(self, conn: SocketConn, data: str) -> None:
        """Record one frame the app sent; an ack (with an envelope_id) wakes whoever waits for it."""
        now = time.monotonic()
        try:
            frame = json.loads(data)
        except ValueError:
            frame = {"raw": data}
        if not isinstance(frame, dict):
            frame = {"raw": data}
        conn.received.append(frame)
        self.socket_received.append(copy.deepcopy(frame))
        envelope_id = frame.get("envelope_id")
        if not envelope_id:
            return
        sent = self._socket_sent_at.get(str(envelope_id))
        ack = {
            "envelope_id": str(envelope_id),
            "payload": copy.deepcopy(frame.get("payload")),
            "at": now,
            "elapsed": (now - sent) if sent is not None else None,
            "connection": conn.id,
        }
        self.socket_acks.append(ack)
        for waiter in self._socket_ack_waiters.pop(str(envelope_id), []):
            if not waiter.done():
                waiter.set_result(copy.deepcopy(ack))

    def _socket_signal(self) -> None:
        """Wake whoever waits for the connections to change."""
        self._socket_changed.set()
        self._socket_changed = asyncio.Event()

    def _socket_target(self) -> SocketConn:
        """The connection new envelopes go to: the newest open one not told to disconnect, if any."""
        open_conns = [c for c in self._socket_conns if c.closed is None and not c.ws.closed]
        if not open_conns:
            raise RuntimeError("no Socket Mode connection is open")
        live = [c for c in open_conns if not c.draining]
        return (live or open_conns)[-1]

    def socket_connected(self) -> bool:
        """True while the app has a Socket Mode connection open."""
        return any(c.closed is None and not c.ws.closed for c in self._socket_conns)

    def socket_connections(self) -> list[dict[str, Any]]:
        """Every Socket Mode connection the app opened, oldest first: id, opened/closed (monotonic), draining."""
        return [{"id": c.id, "opened": c.opened, "closed": c.closed, "draining": c.draining}
                for c in self._socket_conns]

    async def socket_wait_connected(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until the app has opened at least ``count`` connections in all and one is open now."""
        async with asyncio.timeout(timeout):
            while not (len(self._socket_conns) >= count and self.socket_connected()
                       and not self._socket_target().draining):
                await self._socket_changed.wait()

    async def socket_send(
        self,
        type: str,  # noqa: A002 - Slack's field name
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Push one envelope to the newest open connection (one not told to disconnect, if any); its envelope_id.

        ``type`` is ``slash_commands``, ``interactive`` or ``events_api``; Events API envelopes carry
        ``retry_attempt``/``retry_reason`` as Slack sends them.
        """
        conn = self._socket_target()
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {"envelope_id": envelope_id, "payload": payload, "type": type,
                                    "accepts_response_payload": accepts_response_payload}
        if type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        sent_at = time.monotonic()
        self._socket_sent_at[envelope_id] = sent_at
        self.socket_envelopes.append({**copy.deepcopy(envelope), "sent_at": sent_at, "connection": conn.id})
        await conn.ws.send_str(json.dumps(envelope))
        return envelope_id

    async def socket_wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The app's ack of an envelope (the first, if it acked twice); TimeoutError if none comes in time."""
        for ack in self.socket_acks:
            if ack["envelope_id"] == envelope_id:
                return copy.deepcopy(ack)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._socket_ack_waiters.setdefault(envelope_id, []).append(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise TimeoutError(f"no ack for envelope {envelope_id} within {timeout}s") from None
        finally:
            waiters = self._socket_ack_waiters.get(envelope_id)
            if waiters and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    self._socket_ack_waiters.pop(envelope_id, None)

    async def socket_disconnect(self, reason: str = "refresh_requested", *, close_after: float | None = None) -> None:
        """Send ``{"type": "disconnect", "reason": ...}`` on the newest open connection, as Slack does before
        it retires one; ``close_after`` seconds later the simulator closes it itself (None: leave it to the app)."""
        conn = self._socket_target()
        conn.draining = True
        await conn.ws.send_json({"type": "disconnect", "reason": reason,
                                 "debug_info": {"host": "applink-sim"}})
        if close_after is not None:
            async def _close() -> None:
                """Close the connection after `close_after` seconds."""
                await asyncio.sleep(close_after)
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001, message=reason.encode())

            task = asyncio.ensure_future(_close())
            self._socket_closers.add(task)
            task.add_done_callback(self._socket_closers.discard)

    async def socket_drop(self, code: int = 1006) -> None:
        """Close the newest open connection with no ``disconnect`` first (a dropped link, a server restart)."""
        conn = self._socket_target()
        conn.draining = True
        await conn.ws.close(code=code, message=b"dropped")
