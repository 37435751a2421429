"""A fake Slack Web API (and response_url hooks) with real state, for the tests and `accessbot demo`.

`SlackSimulator` is a small aiohttp server on 127.0.0.1 (a free port). ``await sim.start()`` returns the
Web API base URL (``http://127.0.0.1:PORT/api/``), which is what the bot's
``AsyncWebClient(token=..., base_url=...)`` gets. It answers the methods accessbot uses, the way Slack
does (HTTP 200 with ``{"ok": false, "error": ...}`` on failure, 429 with ``Retry-After`` when rate
limited):

- ``auth.test``
- ``chat.postMessage`` (``channel`` is a ``C…``/``G…``/``D…`` id, or a ``U…``/``W…`` user id, which
  posts to that user's DM channel ``D`` + user id), ``chat.update`` (needs the channel id the
  message was posted to, as Slack does), ``chat.postEphemeral``
- ``conversations.open``, ``users.info``, ``users.list`` (cursor-paged), ``users.lookupByEmail``,
  ``usergroups.users.list``
- ``views.open`` (needs a live trigger_id, used once, within 3 s: ``sim.new_trigger_id()``; the
  driver makes them), ``views.publish``, ``views.update``

Requests may be form-encoded, JSON or query parameters, as slack_sdk sends them. Every request needs
``Authorization: Bearer <token>`` (``not_authed`` without a token, ``invalid_auth`` with a wrong one,
``token_revoked`` once a test sets ``sim.token_revoked``). As Slack does, every answer to the bot token
carries ``x-oauth-scopes`` (the token's scopes, ``sim.scopes``: manifest.yml's bot scopes unless a test
narrows them) and ``x-accepted-oauth-scopes``; a method whose scope the token lacks is ``missing_scope``
with ``needed`` and ``provided``.
Block Kit limits are enforced as Slack documents them (``invalid_blocks`` with the reasons in
``errors``); `bot.simulators.block_kit` has the same checks as pure functions (`block_kit_errors()`,
`view_errors()`), which the tests of Block Kit builders use too. Users and user groups are real state
(``add_user``, ``add_usergroup``); channels are implicit, but a DM to an unknown user is ``channel_not_found``.

``sim.response_url(tag)`` is a URL on the simulator that takes POSTs like Slack's response_url
(five uses, ``replace_original``/``delete_original`` act on the message the tag is attached to,
``response_type: in_channel`` posts to the channel, anything else is an ephemeral to the user).

Tests look at state (``messages()``, ``message()``, ``dms_to()``, ``thread()``, ``ephemerals()``,
``views``, ``home()``), at the traffic (``calls``, ``count()``) and inject trouble with
``fail_next()`` (429 with Retry-After, an error, a 5xx) and ``delay_next()`` (slow answers). ``sim.rates``
enforces Slack's documented rate limits when a test turns it on (``sim.rates.enabled = True``; `slack_rates`).

    async with SlackSimulator() as sim:
        sim.add_user("U1", "ann@example.com")
        client = AsyncWebClient(token=sim.token, base_url=sim.base_url)
        await client.chat_postMessage(channel="U1", text="hi")
        assert sim.dms_to("U1")[0]["text"] == "hi"

Socket Mode: ``apps.connections.open`` (with ``Authorization: Bearer <sim.app_token>``, ``xapp-test`` by
default; no token is ``not_authed``, a wrong one ``invalid_auth``, the bot token
``not_allowed_token_type``) answers a one-use ``ws://127.0.0.1:PORT/socket-mode/<ticket>`` URL. The
websocket there says ``hello``, takes acks (``{"envelope_id": ..., "payload": ...}``, recorded in
``socket_acks`` with the monotonic time they arrived and ``elapsed`` since the envelope went out) and
is where tests push envelopes from:

    eid = await sim.socket_send("slash_commands", payload, accepts_response_payload=True)
    ack = await sim.socket_wait_ack(eid)        # {"envelope_id", "payload", "at", "elapsed", ...}
    await sim.socket_disconnect()               # {"type": "disconnect", "reason": "refresh_requested"}

``socket_drop()`` closes a connection with no warning. ``socket_connected()``, ``socket_connections()``
and ``socket_wait_connected()`` show the app's connections; ``socket_envelopes`` lists what was sent,
``socket_received`` every frame the app sent.

Where the simulator is stricter than Slack (documented so a failure here is not mistaken for Slack's
behaviour): a ``thread_ts`` that names no message in the channel is ``thread_not_found``.

This module is the server: lifecycle, faults, the call record and the dispatch of each Web API call. Each API
family is a mixin in its own module: ``slack_auth``, ``slack_chat``, ``slack_conversations``, ``slack_users``
(users and usergroups), ``slack_views``, ``slack_hooks`` (response_url) and ``slack_socket`` (Socket Mode).
"""


from __future__ import annotations

import asyncio
import contextlib
import copy
import math
import random
import string
import time
from typing import Any

from aiohttp import web

from bot.simulators.slack_auth import BOT_SCOPES, METHOD_SCOPES, AuthApi
from bot.simulators.slack_chat import ChatApi
from bot.simulators.slack_common import (
    API_PREFIX,
    HOOK_PREFIX,
    SOCKET_METHOD,
    SOCKET_PREFIX,
    TRIGGER_TTL,
    Call,
    Fault,
    Hook,
    SlackError,
    bearer,
    read_params,
)
from bot.simulators.slack_conversations import ConversationsApi
from bot.simulators.slack_hooks import ResponseUrls
from bot.simulators.slack_rates import SlackRates
from bot.simulators.slack_socket import SocketConn, SocketModeApi
from bot.simulators.slack_users import UsersApi
from bot.simulators.slack_views import ViewsApi

__all__ = ["Call", "SlackSimulator"]

_BASE_TS_MICROS = 1_700_000_000 * 1_000_000
_TS_STEP_MICROS = 100


class SlackSimulator(AuthApi, ChatApi, ConversationsApi, UsersApi, ViewsApi, ResponseUrls, SocketModeApi):
    """An in-process Slack Web API with state, Block Kit limits, response_url hooks and faults."""

    def __init__(self, token: str = "xoxb-test", *, seed: int = 0, app_token: str = "xapp-test") -> None:
        """A simulator with no users, messages or faults yet; `seed` makes its ids and trigger ids repeatable."""
        self.token = token
        self.app_token = app_token  # the app-level token apps.connections.open takes (Socket Mode)
        self.scopes: tuple[str, ...] = BOT_SCOPES  # what the bot token was granted (x-oauth-scopes)
        self.token_revoked = False  # True: every call with the bot token is token_revoked
        self.team_id = "T0ACCESS"
        self.team_domain = "accessbot-test"
        self.app_id = "A0ACCESSBOT"
        self.bot_id = "B0ACCESSBOT"
        self.bot_user_id = "U0ACCESSBOT"
        self.base_url: str | None = None  # ``http://127.0.0.1:PORT/api/`` once started
        self.root_url: str | None = None  # ``http://127.0.0.1:PORT``
        self.calls: list[Call] = []
        self.hook_posts: list[tuple[str, dict[str, Any]]] = []  # (tag, body) of every response_url POST
        self.views: dict[str, list[dict[str, Any]]] = {}  # user id -> views opened/published for them
        self.closed_view_ids: set[str] = set()
        self.rejected_acks: list[tuple[str, str]] = []  # (tag, error) of slash acks Slack would refuse
        self.trigger_ttl = TRIGGER_TTL
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._channel_names: dict[str, str] = {}
        self._messages: list[dict[str, Any]] = []  # posted and ephemeral, in order
        self._hooks: dict[str, Hook] = {}
        self._triggers: dict[str, tuple[str | None, float]] = {}
        self._faults: list[Fault] = []
        self.rates = SlackRates()  # Slack's rate limits (off unless turned on) and a latency: slack_rates
        self._ts_counter = 0
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None
        # Socket Mode
        self.socket_acks: list[dict[str, Any]] = []  # {"envelope_id", "payload", "at", "elapsed", "connection"}
        self.socket_envelopes: list[dict[str, Any]] = []  # every envelope pushed, with "sent_at"/"connection"
        self.socket_received: list[dict[str, Any]] = []  # every text frame the app sent (parsed; or {"raw": ...})
        self._socket_tickets: set[str] = set()
        self._socket_conns: list[SocketConn] = []
        self._socket_sent_at: dict[str, float] = {}
        self._socket_ack_waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._socket_changed = asyncio.Event()
        self._socket_closers: set[asyncio.Future[None]] = set()
        self._methods = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "views.update": self._views_update,
        }

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (`port`, default a free one); the Web API base URL, ``http://127.0.0.1:PORT/api/``."""
        if self._runner is not None:
            assert self.base_url is not None
            return self.base_url
        app = web.Application(client_max_size=4 * 1024**2)
        app.router.add_route("*", API_PREFIX + "{method}", self._api)
        app.router.add_post(HOOK_PREFIX + "{tag}", self._hook)
        app.router.add_get(SOCKET_PREFIX + "{ticket}", self._socket)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.root_url = f"http://{host}:{port}"
        self.base_url = self.root_url + API_PREFIX
        return self.base_url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            for conn in self._socket_conns:
                if conn.closed is None:
                    with contextlib.suppress(Exception):
                        await conn.ws.close(code=1001, message=b"server stopping")
            await runner.cleanup()

    async def __aenter__(self) -> SlackSimulator:
        """Start serving; the simulator."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop serving."""
        await self.stop()

    # -- faults ----------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        n: int = 1,
        error: str = "ratelimited",
        retry_after: float | None = 1,
        *,
        status: int | None = None,
    ) -> None:
        """Make the next ``n`` calls of ``method`` (``"*"`` for any, ``"response_url"`` for hooks) fail.

        ``error="ratelimited"`` answers 429 with ``Retry-After`` (whole seconds, rounded up) and
        ``{"ok": false, "error": "ratelimited"}``; any other error answers HTTP 200 (or ``status``,
        e.g. 500/503) with ``{"ok": false, "error": error}``. Nothing changes in the state.
        """
        if status is None:
            status = 429 if error == "ratelimited" else 200
        self._faults.append(Fault(method, n, error, status, retry_after, 0.0))

    def clear_faults(self) -> None:
        """Slack is well again: every fault not yet used up is dropped."""
        self._faults.clear()

    def delay_next(self, method: str, seconds: float, n: int = 1) -> None:
        """Make the next ``n`` calls of ``method`` (``"*"`` for any) answer ``seconds`` late, but succeed."""
        self._faults.append(Fault(method, n, None, 200, None, seconds))

    def _take_fault(self, method: str) -> Fault | None:
        """The fault that applies to this call of `method` (used up by one), or None."""
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (method, "*"):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def faults_left(self, method: str) -> int:
        """How many calls of ``method`` the faults set so far will still catch (0 once every one was used)."""
        return sum(f.remaining for f in self._faults if f.method in (method, "*"))

    def count(self, method: str | None = None) -> int:
        """How many calls (of ``method``) were answered."""
        return sum(1 for c in self.calls if method is None or c.method == method)

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one method."""
        return [c for c in self.calls if c.method == method]

    # -- HTTP --------------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        """One Web API call: the token, scopes and faults checked, then the method's answer, recorded."""
        arrived = time.perf_counter()
        method = request.match_info["method"]
        if method == SOCKET_METHOD:
            return await self._apps_connections_open(request)
        params, parse_error = await read_params(request)
        token = bearer(request) or params.pop("token", None)
        params.pop("token", None)
        status, headers = 200, {}
        fault = self._take_fault(method) if method in self._methods else None
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if self.rates.latency:
            await asyncio.sleep(self.rates.latency)
        limited = self.rates.check(method, params) if token == self.token and method in self._methods else None
        if method not in self._methods:
            response: dict[str, Any] = {"ok": False, "error": "unknown_method"}
        elif not token:
            response = {"ok": False, "error": "not_authed"}
        elif token != self.token:
            response = {"ok": False, "error": "invalid_auth"}
        elif self.token_revoked:
            response = {"ok": False, "error": "token_revoked"}
        elif METHOD_SCOPES.get(method, "") not in ("", *self.scopes):
            headers.update(self._scope_headers(method))
            response = {"ok": False, "error": "missing_scope", "needed": METHOD_SCOPES[method],
                        "provided": ",".join(self.scopes)}
        elif limited is not None:
            status, response = 429, {"ok": False, "error": "ratelimited"}
            headers["Retry-After"] = str(max(1, math.ceil(limited)))
        elif fault is not None and fault.error is not None:
            status = fault.status
            response = {"ok": False, "error": fault.error}
            if fault.error == "ratelimited" and fault.retry_after is not None:
                headers["Retry-After"] = str(math.ceil(fault.retry_after))
        elif parse_error is not None:
            response = {"ok": False, "error": parse_error}
        else:
            headers.update(self._scope_headers(method))
            try:
                response = {"ok": True, **self._methods[method](params)}
            except SlackError as exc:
                response = {"ok": False, "error": exc.error, **exc.extra}
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.calls.append(Call(method, params, copy.deepcopy(response), peer[1] if peer else 0, arrived))
        return web.json_response(response, status=status, headers=headers)

    def _next_ts(self) -> str:
        """The next message ts, increasing by 100 µs from a fixed start."""
        self._ts_counter += 1
        micros = _BASE_TS_MICROS + self._ts_counter * _TS_STEP_MICROS
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _random_id(self, prefix: str = "", length: int = 5) -> str:
        """A repeatable random id (from the seed) of letters and digits after `prefix`."""
        alphabet = string.ascii_letters + string.digits
        return prefix + "".join(self._rng.choice(alphabet) for _ in range(length))
