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
``errors``); `block_kit_errors()` and `view_errors()` are the same checks as pure functions, for unit
tests of Block Kit builders. Users and user groups are real state (``add_user``, ``add_usergroup``);
channels are implicit, but a DM to an unknown user is ``channel_not_found``.

``sim.response_url(tag)`` is a URL on the simulator that takes POSTs like Slack's response_url
(five uses, ``replace_original``/``delete_original`` act on the message the tag is attached to,
``response_type: in_channel`` posts to the channel, anything else is an ephemeral to the user).

Tests look at state (``messages()``, ``message()``, ``dms_to()``, ``thread()``, ``ephemerals()``,
``views``, ``home()``), at the traffic (``calls``, ``count()``) and inject trouble with
``fail_next()`` (429 with Retry-After, an error, a 5xx) and ``delay_next()`` (slow answers).

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
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import math
import random
import string
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

API_PREFIX = "/api/"
HOOK_PREFIX = "/hooks/"
SOCKET_PREFIX = "/socket-mode/"
SOCKET_METHOD = "apps.connections.open"

# Block Kit limits, as Slack documents them (api.slack.com/reference/block-kit).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_ATTACHMENTS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_INPUT_LABEL = 2000
MAX_PLACEHOLDER = 150
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_MARKDOWN_BLOCK_TEXT = 12_000
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
RESPONSE_URL_USES = 5
TRIGGER_TTL = 3.0

BLOCK_TYPES = frozenset(
    {
        "actions",
        "call",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
ELEMENT_TYPES = frozenset(
    {
        "button",
        "channels_select",
        "checkboxes",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "external_select",
        "file_input",
        "image",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "timepicker",
        "url_text_input",
        "users_select",
        "workflow_button",
    }
)
_OPTION_ELEMENTS = {"static_select", "multi_static_select", "overflow", "checkboxes", "radio_buttons"}
_MAX_OPTIONS_BY_TYPE = {"overflow": 5, "checkboxes": 10, "radio_buttons": 10}
_VIEW_TYPES = {"modal", "home"}

# The bot scopes of manifest.yml, which a token has unless a test says otherwise (``sim.scopes``).
BOT_SCOPES = ("commands", "chat:write", "im:write", "users:read", "users:read.email", "usergroups:read")
# The scope each method needs, as Slack's method reference lists it (methods absent here need none).
METHOD_SCOPES = {
    "chat.postMessage": "chat:write", "chat.update": "chat:write", "chat.postEphemeral": "chat:write",
    "conversations.open": "im:write", "users.info": "users:read", "users.list": "users:read",
    "users.lookupByEmail": "users:read.email", "usergroups.users.list": "usergroups:read",
}

_BASE_TS_MICROS = 1_700_000_000 * 1_000_000
_TS_STEP_MICROS = 100


class Call(NamedTuple):
    """One Web API call (or response_url post, method ``"response_url"``), recorded once answered."""

    method: str
    params: dict[str, Any]
    response: dict[str, Any]


@dataclass
class _Fault:
    method: str
    remaining: int
    error: str | None
    status: int
    retry_after: float | None
    delay: float


@dataclass
class _Hook:
    tag: str
    channel: str | None
    user_id: str | None
    message_ts: str | None
    uses: int = 0


@dataclass
class _SocketConn:
    """One Socket Mode websocket the app opened."""

    id: int
    ticket: str
    ws: web.WebSocketResponse
    opened: float
    closed: float | None = None
    draining: bool = False  # told to disconnect; Slack sends new envelopes elsewhere
    received: list[dict[str, Any]] = field(default_factory=list)


class _SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


# -- Block Kit checks (pure) --------------------------------------------------------------------


def block_kit_errors(blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Why Slack would answer ``invalid_blocks`` for these blocks (empty when it would accept them)."""
    errors: list[str] = []
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    if len(blocks) > max_blocks:
        errors.append(f"must have at most {max_blocks} blocks, has {len(blocks)}")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        path = f"blocks[{i}]"
        if not isinstance(block, dict):
            errors.append(f"{path} must be an object")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 1 <= len(block_id) <= MAX_BLOCK_ID:
                errors.append(f"{path}.block_id must be a string of 1..{MAX_BLOCK_ID} characters")
            elif block_id in block_ids:
                errors.append(f"{path}.block_id {block_id!r} is not unique")
            else:
                block_ids.add(block_id)
        _check_block(block, path, errors)
    return errors


def view_errors(view: Any) -> list[str]:
    """Why Slack would refuse this view object (modal or home); empty when it would accept it."""
    if not isinstance(view, dict):
        return ["view must be an object"]
    errors: list[str] = []
    view_type = view.get("type")
    if view_type not in _VIEW_TYPES:
        errors.append(f"view.type must be one of {sorted(_VIEW_TYPES)}, got {view_type!r}")
    if view_type == "modal":
        _text_object(view.get("title"), "view.title", MAX_VIEW_TITLE, errors, plain_only=True)
    for key in ("submit", "close"):
        if view.get(key) is not None:
            _text_object(view[key], f"view.{key}", MAX_VIEW_TITLE, errors, plain_only=True)
    if (
        view_type == "modal"
        and view.get("submit") is None
        and any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
    ):
        errors.append("view.submit is required when the view has input blocks")
    metadata = view.get("private_metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > MAX_PRIVATE_METADATA):
        errors.append(f"view.private_metadata must be a string of at most {MAX_PRIVATE_METADATA} characters")
    for key in ("callback_id", "external_id"):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            errors.append(f"view.{key} must be a string of at most 255 characters")
    if "blocks" not in view:
        errors.append("view.blocks is required")
    else:
        errors.extend(block_kit_errors(view["blocks"], max_blocks=MAX_VIEW_BLOCKS))
    return errors


def _text_object(
    obj: Any,
    path: str,
    max_len: int,
    errors: list[str],
    *,
    plain_only: bool = False,
) -> None:
    if not isinstance(obj, dict):
        errors.append(f"{path} must be a text object")
        return
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in kinds:
        errors.append(f"{path}.type must be {' or '.join(kinds)}, got {obj.get('type')!r}")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"{path}.text must be a non-empty string")
    elif len(text) > max_len:
        errors.append(f"{path}.text must be at most {max_len} characters, has {len(text)}")


def _check_block(block: dict[str, Any], path: str, errors: list[str]) -> None:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        errors.append(f"{path}.type {kind!r} is not a known block type")
        return
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"{path} needs text or fields")
        if "text" in block:
            _text_object(block["text"], f"{path}.text", MAX_SECTION_TEXT, errors)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_SECTION_FIELDS:
                errors.append(f"{path}.fields must be a list of 1..{MAX_SECTION_FIELDS} text objects")
            else:
                for j, field in enumerate(fields):
                    _text_object(field, f"{path}.fields[{j}]", MAX_FIELD_TEXT, errors)
        if "accessory" in block:
            _check_element(block["accessory"], f"{path}.accessory", errors)
    elif kind == "header":
        _text_object(block.get("text"), f"{path}.text", MAX_HEADER_TEXT, errors, plain_only=True)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ACTIONS_ELEMENTS:
            errors.append(f"{path}.elements must be a list of 1..{MAX_ACTIONS_ELEMENTS} elements")
            return
        action_ids: set[str] = set()
        for j, element in enumerate(elements):
            _check_element(element, f"{path}.elements[{j}]", errors)
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if action_id is not None:
                if action_id in action_ids:
                    errors.append(f"{path}.elements[{j}].action_id {action_id!r} is not unique in the block")
                action_ids.add(action_id)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
            errors.append(f"{path}.elements must be a list of 1..{MAX_CONTEXT_ELEMENTS} elements")
            return
        for j, element in enumerate(elements):
            epath = f"{path}.elements[{j}]"
            if isinstance(element, dict) and element.get("type") == "image":
                _check_element(element, epath, errors)
            else:
                _text_object(element, epath, MAX_SECTION_TEXT, errors)
    elif kind == "input":
        _text_object(block.get("label"), f"{path}.label", MAX_INPUT_LABEL, errors, plain_only=True)
        if "hint" in block:
            _text_object(block["hint"], f"{path}.hint", MAX_INPUT_LABEL, errors, plain_only=True)
        if "element" not in block:
            errors.append(f"{path}.element is required")
        else:
            _check_element(block["element"], f"{path}.element", errors)
    elif kind == "image":
        if not block.get("image_url") and not block.get("slack_file"):
            errors.append(f"{path} needs image_url or slack_file")
        elif len(str(block.get("image_url", ""))) > MAX_URL:
            errors.append(f"{path}.image_url must be at most {MAX_URL} characters")
        alt = block.get("alt_text")
        if not isinstance(alt, str) or not 1 <= len(alt) <= 2000:
            errors.append(f"{path}.alt_text must be a string of 1..2000 characters")
        if "title" in block:
            _text_object(block["title"], f"{path}.title", 2000, errors, plain_only=True)
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_MARKDOWN_BLOCK_TEXT:
            errors.append(f"{path}.text must be a string of 1..{MAX_MARKDOWN_BLOCK_TEXT} characters")
    elif kind == "rich_text" and not isinstance(block.get("elements"), list):
        errors.append(f"{path}.elements must be a list")


def _check_element(element: Any, path: str, errors: list[str]) -> None:
    if not isinstance(element, dict):
        errors.append(f"{path} must be an object")
        return
    kind = element.get("type")
    if kind not in ELEMENT_TYPES:
        errors.append(f"{path}.type {kind!r} is not a known element type")
        return
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or not 1 <= len(action_id) <= MAX_ACTION_ID):
        errors.append(f"{path}.action_id must be a string of 1..{MAX_ACTION_ID} characters")
    if "placeholder" in element:
        _text_object(element["placeholder"], f"{path}.placeholder", MAX_PLACEHOLDER, errors, plain_only=True)
    if "confirm" in element:
        _check_confirm(element["confirm"], f"{path}.confirm", errors)
    if kind == "button":
        _text_object(element.get("text"), f"{path}.text", MAX_BUTTON_TEXT, errors, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
            errors.append(f"{path}.value must be a string of at most {MAX_BUTTON_VALUE} characters")
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > MAX_URL):
            errors.append(f"{path}.url must be a string of at most {MAX_URL} characters")
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            errors.append(f"{path}.style must be primary or danger, got {style!r}")
    elif kind == "image":
        if not element.get("image_url") and not element.get("slack_file"):
            errors.append(f"{path} needs image_url or slack_file")
        if not isinstance(element.get("alt_text"), str) or not element.get("alt_text"):
            errors.append(f"{path}.alt_text must be a non-empty string")
    elif kind in _OPTION_ELEMENTS:
        _check_options(element, kind, path, errors)
    elif kind == "plain_text_input":
        for key in ("min_length", "max_length"):
            value = element.get(key)
            if value is not None and (not isinstance(value, int) or not 0 <= value <= 3000):
                errors.append(f"{path}.{key} must be an integer of 0..3000")


def _check_options(element: dict[str, Any], kind: str, path: str, errors: list[str]) -> None:
    limit = _MAX_OPTIONS_BY_TYPE.get(kind, MAX_OPTIONS)
    options = element.get("options")
    groups = element.get("option_groups")
    if options is None and groups is None:
        errors.append(f"{path} needs options or option_groups")
        return
    all_options: list[Any] = []
    if options is not None:
        if not isinstance(options, list) or not 1 <= len(options) <= limit:
            errors.append(f"{path}.options must be a list of 1..{limit} options")
            return
        all_options.extend(options)
    if groups is not None:
        if not isinstance(groups, list) or not 1 <= len(groups) <= MAX_OPTIONS:
            errors.append(f"{path}.option_groups must be a list of 1..{MAX_OPTIONS} groups")
            return
        for g, group in enumerate(groups):
            _text_object(
                group.get("label") if isinstance(group, dict) else None,
                f"{path}.option_groups[{g}].label",
                MAX_OPTION_TEXT,
                errors,
                plain_only=True,
            )
            all_options.extend(group.get("options") or [] if isinstance(group, dict) else [])
    plain_only = kind in ("static_select", "multi_static_select", "overflow")
    values: list[Any] = []
    for j, option in enumerate(all_options):
        opath = f"{path}.options[{j}]"
        if not isinstance(option, dict):
            errors.append(f"{opath} must be an option object")
            continue
        _text_object(option.get("text"), f"{opath}.text", MAX_OPTION_TEXT, errors, plain_only=plain_only)
        value = option.get("value")
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_OPTION_VALUE:
            errors.append(f"{opath}.value must be a string of 1..{MAX_OPTION_VALUE} characters")
        if "description" in option:
            _text_object(
                option["description"], f"{opath}.description", MAX_OPTION_TEXT, errors, plain_only=plain_only
            )
        values.append(value)
    initial = element.get("initial_option")
    if isinstance(initial, dict) and initial.get("value") not in values:
        errors.append(f"{path}.initial_option must be one of the options")


def _check_confirm(confirm: Any, path: str, errors: list[str]) -> None:
    if not isinstance(confirm, dict):
        errors.append(f"{path} must be a confirmation dialog object")
        return
    _text_object(confirm.get("title"), f"{path}.title", 100, errors, plain_only=True)
    _text_object(confirm.get("text"), f"{path}.text", 300, errors)
    _text_object(confirm.get("confirm"), f"{path}.confirm", 30, errors, plain_only=True)
    _text_object(confirm.get("deny"), f"{path}.deny", 30, errors, plain_only=True)
    style = confirm.get("style")
    if style is not None and style not in ("primary", "danger"):
        errors.append(f"{path}.style must be primary or danger")


# -- the simulator --------------------------------------------------------------------------------


class SlackSimulator:
    """An in-process Slack Web API with state, Block Kit limits, response_url hooks and faults."""

    def __init__(self, token: str = "xoxb-test", *, seed: int = 0, app_token: str = "xapp-test") -> None:
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
        self._hooks: dict[str, _Hook] = {}
        self._triggers: dict[str, tuple[str | None, float]] = {}
        self._faults: list[_Fault] = []
        self._ts_counter = 0
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None
        # Socket Mode
        self.socket_acks: list[dict[str, Any]] = []  # {"envelope_id", "payload", "at", "elapsed", "connection"}
        self.socket_envelopes: list[dict[str, Any]] = []  # every envelope pushed, with "sent_at"/"connection"
        self.socket_received: list[dict[str, Any]] = []  # every text frame the app sent (parsed; or {"raw": ...})
        self._socket_tickets: set[str] = set()
        self._socket_conns: list[_SocketConn] = []
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
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- state -----------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        email: str | None = None,
        name: str | None = None,
        *,
        is_bot: bool = False,
        deleted: bool = False,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        tz: str = "UTC",
    ) -> dict[str, Any]:
        """Add (or replace) a workspace member; returns the user object ``users.info`` answers with."""
        name = name or user_id.lower()
        profile: dict[str, Any] = {
            "real_name": name,
            "display_name": name,
            "real_name_normalized": name,
            "display_name_normalized": name,
        }
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = "B" + user_id[1:]
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": name,
            "deleted": deleted,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "is_restricted": is_restricted,
            "is_ultra_restricted": is_ultra_restricted,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": _tz_offset(tz),
            "updated": int(time.time()),
            "profile": profile,
        }
        self._users[user_id] = user
        return copy.deepcopy(user)

    def user(self, user_id: str) -> dict[str, Any] | None:
        """The user object for an id, or None."""
        user = self._users.get(user_id)
        return copy.deepcopy(user) if user else None

    def add_usergroup(self, group_id: str, members: list[str]) -> None:
        """Add (or replace) a user group (``S…``) and its members."""
        self._usergroups[group_id] = list(members)

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
        self._faults.append(_Fault(method, n, error, status, retry_after, 0.0))

    def clear_faults(self) -> None:
        """Slack is well again: every fault not yet used up is dropped."""
        self._faults.clear()

    def delay_next(self, method: str, seconds: float, n: int = 1) -> None:
        """Make the next ``n`` calls of ``method`` (``"*"`` for any) answer ``seconds`` late, but succeed."""
        self._faults.append(_Fault(method, n, None, 200, None, seconds))

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (method, "*"):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- triggers and response URLs --------------------------------------------------------------

    def new_trigger_id(self, user_id: str | None = None) -> str:
        """A trigger_id, as Slack puts in a payload: good for one ``views.open`` within 3 seconds."""
        trigger = (
            f"{self._rng.randrange(10**12, 10**13)}.{self._rng.randrange(10**10, 10**11)}."
            f"{self._rng.getrandbits(128):032x}"
        )
        self._triggers[trigger] = (user_id, time.monotonic())
        return trigger

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
            self._hooks[tag] = _Hook(tag, channel, user_id, message_ts)
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
        except _SlackError as exc:
            self.rejected_acks.append((tag, exc.error))
            return
        if len(self._messages) > before:
            shown = self._messages.pop()
            first = next((i for i, m in enumerate(self._messages) if m["tag"] == tag), len(self._messages))
            self._messages.insert(first, shown)

    # -- queries ---------------------------------------------------------------------------------

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

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab view last published for the user, or None."""
        homes = [v for v in self.views.get(user_id, []) if v["type"] == "home"]
        return copy.deepcopy(homes[-1]) if homes else None

    def modals(self, user_id: str) -> list[dict[str, Any]]:
        """The modals opened for the user, oldest first (their latest content)."""
        return [copy.deepcopy(v) for v in self.views.get(user_id, []) if v["type"] == "modal"]

    def view(self, view_id: str) -> dict[str, Any] | None:
        """A copy of the view with that id, or None."""
        found = self._find_view(view_id)
        return copy.deepcopy(found[1]) if found else None

    def count(self, method: str | None = None) -> int:
        """How many calls (of ``method``) were answered."""
        return sum(1 for c in self.calls if method is None or c.method == method)

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one method."""
        return [c for c in self.calls if c.method == method]

    # -- HTTP ------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == SOCKET_METHOD:
            return await self._apps_connections_open(request)
        params, parse_error = await _read_params(request)
        token = _bearer(request) or params.pop("token", None)
        params.pop("token", None)
        status, headers = 200, {}
        fault = self._take_fault(method) if method in self._methods else None
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
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
            except _SlackError as exc:
                response = {"ok": False, "error": exc.error, **exc.extra}
        self.calls.append(Call(method, params, copy.deepcopy(response)))
        return web.json_response(response, status=status, headers=headers)

    def _scope_headers(self, method: str) -> dict[str, str]:
        """The scope headers Slack puts on an answer to a known token: what it has, what the method takes."""
        return {"x-oauth-scopes": ",".join(self.scopes), "x-accepted-oauth-scopes": METHOD_SCOPES.get(method, "")}

    async def _hook(self, request: web.Request) -> web.Response:
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
            except _SlackError as exc:
                status, error = 400, exc.error
        response = {"ok": error is None} if error is None else {"ok": False, "error": error}
        self.calls.append(Call("response_url", params, response))
        if error is None:
            return web.json_response(response)
        headers = {}
        if error == "ratelimited" and fault is not None and fault.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(fault.retry_after))
        return web.Response(status=status, text=error, headers=headers)

    # -- Socket Mode -----------------------------------------------------------------------------

    async def _apps_connections_open(self, request: web.Request) -> web.Response:
        """``apps.connections.open``: a one-use websocket URL, for the app-level token only."""
        params, _ = await _read_params(request)
        token = _bearer(request) or params.pop("token", None)
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
        conn = _SocketConn(id=len(self._socket_conns) + 1, ticket=ticket, ws=ws, opened=time.monotonic())
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

    def _socket_frame(self, conn: _SocketConn, data: str) -> None:
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
        self._socket_changed.set()
        self._socket_changed = asyncio.Event()

    def _socket_target(self) -> _SocketConn:
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

    # -- message helpers -------------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_counter += 1
        micros = _BASE_TS_MICROS + self._ts_counter * _TS_STEP_MICROS
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _random_id(self, prefix: str = "", length: int = 5) -> str:
        alphabet = string.ascii_letters + string.digits
        return prefix + "".join(self._rng.choice(alphabet) for _ in range(length))

    def _normalize_channel(self, channel: str) -> str:
        if channel[:1] in ("U", "W"):
            return self.dm_channel(channel)
        return channel

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        for m in self._messages:
            if m["channel"] == channel and m["ts"] == ts:
                return m
        return None

    def _post_channel(self, channel: Any) -> str:
        if not isinstance(channel, str) or not channel:
            raise _SlackError("channel_not_found")
        if channel[:1] in ("U", "W"):
            user = self._users.get(channel)
            if user is None or user["deleted"]:
                raise _SlackError("channel_not_found")
            return self.dm_channel(channel)
        if channel.startswith("D"):
            user = self._users.get(channel[1:])
            if user is None or user["deleted"]:
                raise _SlackError("channel_not_found")
            return channel
        if channel[:1] in ("C", "G"):
            return channel
        raise _SlackError("channel_not_found")

    def _content(self, params: dict[str, Any], *, require: bool = True) -> dict[str, Any]:
        """Validate text/blocks/attachments of a message; the parts given."""
        content: dict[str, Any] = {}
        text = params.get("text")
        if text is not None:
            text = str(text)
            if len(text) > MAX_MESSAGE_TEXT:
                raise _SlackError("msg_too_long")
            content["text"] = text
        if params.get("blocks") is not None:
            errors = block_kit_errors(params["blocks"])
            if errors:
                raise _SlackError("invalid_blocks", errors=errors)
            content["blocks"] = _with_ids(copy.deepcopy(params["blocks"]), self._random_id)
        if params.get("attachments") is not None:
            attachments = params["attachments"]
            if not isinstance(attachments, list):
                raise _SlackError("invalid_attachments")
            if len(attachments) > MAX_ATTACHMENTS:
                raise _SlackError("too_many_attachments")
            content["attachments"] = copy.deepcopy(attachments)
        if require and not (content.get("text") or content.get("blocks") or content.get("attachments")):
            raise _SlackError("no_text")
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
        if thread_ts in (None, ""):
            return None
        thread_ts = str(thread_ts)
        if self._find(channel, thread_ts) is None:
            raise _SlackError("thread_not_found")
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

    def _respond(self, hook: _Hook, body: dict[str, Any], *, via: str) -> None:
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
                raise _SlackError("message_not_found")
            self._apply_update(original, content, via=via)
            return
        channel = hook.channel or (self.dm_channel(hook.user_id) if hook.user_id else None)
        if channel is None:
            raise _SlackError("channel_not_found")
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

    # -- methods ---------------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain,
            "user": "accessbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
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
        channel, ts = params.get("channel"), params.get("ts")
        if not channel:
            raise _SlackError("channel_not_found")
        message = self._find(str(channel), str(ts)) if ts else None
        if message is None or message["ephemeral"] or message["deleted"]:
            raise _SlackError("message_not_found")
        content = self._content(params, require=False)
        if not content:
            raise _SlackError("no_text")
        self._apply_update(message, content, via="chat.update")
        return {
            "channel": message["channel"],
            "ts": message["ts"],
            "text": message["text"],
            "message": self._slack_message(message),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user")
        user = self._users.get(str(user_id)) if user_id else None
        if user is None or user["deleted"]:
            raise _SlackError("user_not_found")
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

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            return {"channel": {"id": str(params["channel"])}}
        users = params.get("users")
        if isinstance(users, list):
            users = ",".join(users)
        ids = [u.strip() for u in str(users or "").split(",") if u.strip()]
        if not ids:
            raise _SlackError("users_list_not_supplied")
        for user_id in ids:
            if user_id not in self._users or self._users[user_id]["deleted"]:
                raise _SlackError("user_not_found")
        if len(ids) > 1:
            return {"channel": {"id": "G" + "".join(sorted(ids))[:20], "is_mpim": True}}
        channel: dict[str, Any] = {"id": self.dm_channel(ids[0])}
        if str(params.get("return_im", "")).lower() in ("true", "1"):
            channel.update({"is_im": True, "user": ids[0], "created": int(time.time())})
        return {"no_op": True, "already_open": True, "channel": channel}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(params.get("user", "")))
        if user is None:
            raise _SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = str(params.get("email", "")).strip().lower()
        for user in self._users.values():
            if (user.get("profile") or {}).get("email", "").lower() == wanted and wanted:
                return {"user": copy.deepcopy(user)}
        raise _SlackError("users_not_found")

    def _users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every member (deleted ones too, as Slack does), paged by ``limit`` and an opaque ``cursor``."""
        cursor = str(params.get("cursor") or "")
        try:
            limit = int(params.get("limit") or 0) or 1000
            start = int(base64.b64decode(cursor).decode().removeprefix("user:")) if cursor else 0
        except (ValueError, UnicodeDecodeError):
            raise _SlackError("invalid_cursor") from None
        users = list(self._users.values())
        page = users[start:start + min(limit, 1000)]
        end = start + len(page)
        next_cursor = base64.b64encode(f"user:{end}".encode()).decode() if end < len(users) else ""
        return {"members": copy.deepcopy(page), "response_metadata": {"next_cursor": next_cursor}}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._usergroups.get(str(params.get("usergroup", "")))
        if group is None:
            raise _SlackError("no_such_subteam")
        return {"users": list(group)}

    def _check_view(self, view: Any) -> dict[str, Any]:
        if not isinstance(view, dict):
            raise _SlackError("invalid_arguments")
        errors = view_errors(view)
        if any(e.startswith(("blocks", "must have at most")) for e in errors):
            raise _SlackError("invalid_blocks", errors=errors)
        if errors:
            raise _SlackError("invalid_arguments", response_metadata={"messages": errors})
        return view

    def _new_view(
        self,
        view: dict[str, Any],
        *,
        view_id: str | None = None,
        root: str | None = None,
        previous: str | None = None,
    ) -> dict[str, Any]:
        view_id = view_id or self._random_id("V", 10).upper()
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": _with_ids(copy.deepcopy(view.get("blocks", [])), self._random_id),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._random_id(length=8)}",
            "title": copy.deepcopy(view.get("title")),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": copy.deepcopy(view.get("close")),
            "submit": copy.deepcopy(view.get("submit")),
            "previous_view_id": previous,
            "root_view_id": root or view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _find_view(
        self, view_id: str | None = None, external_id: str | None = None
    ) -> tuple[str, dict[str, Any]] | None:
        for user_id, views in self.views.items():
            for view in views:
                if (view_id and view["id"] == view_id) or (
                    external_id and view["external_id"] == external_id
                ):
                    return user_id, view
        return None

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger_id = params.get("trigger_id")
        if not trigger_id:
            raise _SlackError("invalid_trigger_id")
        entry = self._triggers.get(str(trigger_id))
        if entry is None:
            raise _SlackError("invalid_trigger_id")
        user_id, issued = entry
        if issued < 0:
            raise _SlackError("exchanged_trigger_id")
        if time.monotonic() - issued > self.trigger_ttl:
            raise _SlackError("expired_trigger_id")
        view = self._check_view(params.get("view"))
        if view["type"] != "modal":
            raise _SlackError("invalid_arguments")
        self._triggers[str(trigger_id)] = (user_id, -1.0)
        record = self._new_view(view)
        self.views.setdefault(user_id or "", []).append(record)
        return {"view": copy.deepcopy(record)}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not user_id:
            raise _SlackError("invalid_arguments")
        user = self._users.get(str(user_id))
        if user is None or user["deleted"]:
            raise _SlackError("user_not_found")
        view = self._check_view(params.get("view"))
        if view["type"] != "home":
            raise _SlackError("invalid_arguments")
        views = self.views.setdefault(str(user_id), [])
        current = next((v for v in views if v["type"] == "home"), None)
        if current is not None and params.get("hash") and params["hash"] != current["hash"]:
            raise _SlackError("hash_conflict")
        record = self._new_view(view, view_id=current["id"] if current else None)
        if current is not None:
            views[views.index(current)] = record
        else:
            views.append(record)
        return {"view": copy.deepcopy(record)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self._find_view(params.get("view_id"), params.get("external_id"))
        if found is None:
            raise _SlackError("not_found")
        user_id, current = found
        if params.get("hash") and params["hash"] != current["hash"]:
            raise _SlackError("hash_conflict")
        view = self._check_view(params.get("view"))
        if view["type"] != current["type"]:
            raise _SlackError("invalid_arguments")
        record = self.replace_view(current["id"], view)
        return {"view": record}

    def replace_view(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """Replace a view's content, keeping its id (what views.update and ``response_action: update`` do)."""
        found = self._find_view(view_id)
        if found is None:
            raise KeyError(view_id)
        user_id, current = found
        record = self._new_view(
            view, view_id=current["id"], root=current["root_view_id"], previous=current["previous_view_id"]
        )
        views = self.views[user_id]
        views[views.index(current)] = record
        return copy.deepcopy(record)

    def push_view(self, user_id: str, view: dict[str, Any], *, previous: str) -> dict[str, Any]:
        """Push a modal on top of another (what ``response_action: push`` does)."""
        found = self._find_view(previous)
        root = found[1]["root_view_id"] if found else previous
        record = self._new_view(view, root=root, previous=previous)
        self.views.setdefault(user_id, []).append(record)
        return copy.deepcopy(record)


# -- helpers --------------------------------------------------------------------------------------


_JSON_PARAMS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "view": "invalid_arguments",
    "metadata": "invalid_metadata_format",
}


async def _read_params(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """The call's parameters from the query, a form or a JSON body; and a parse error if any."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                return params, "invalid_json"
            if not isinstance(body, dict):
                return params, "invalid_json"
            params.update(body)
        else:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key, error in _JSON_PARAMS.items():
        value = params.get(key)
        if isinstance(value, str):
            if key == "blocks" and value == "":
                params.pop(key)
                continue
            try:
                params[key] = json.loads(value)
            except ValueError:
                return params, error
    return params, None


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip() or None
    return None


def _with_ids(blocks: Any, random_id: Any) -> Any:
    """Give blocks and interactive elements the block_id/action_id Slack assigns when they lack one."""
    if not isinstance(blocks, list):
        return blocks
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", random_id())
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                elements.append(block[key])
        for element in elements:
            if isinstance(element, dict) and element.get("type") in ELEMENT_TYPES - {"image"}:
                element.setdefault("action_id", random_id())
    return blocks


def _tz_offset(tz: str) -> int:
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        offset = datetime.now(UTC).astimezone(ZoneInfo(tz)).utcoffset()
        return int(offset.total_seconds()) if offset else 0
    return 0
