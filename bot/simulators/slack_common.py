"""What the Slack simulator's API families share: paths, recorded calls, faults, errors, request parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiohttp import web

from bot.simulators.block_limits import ELEMENT_TYPES

API_PREFIX = "/api/"
HOOK_PREFIX = "/hooks/"
SOCKET_PREFIX = "/socket-mode/"
SOCKET_METHOD = "apps.connections.open"
RESPONSE_URL_USES = 5
TRIGGER_TTL = 3.0


class Call(NamedTuple):
    """One Web API call (or response_url post, method ``"response_url"``), recorded once answered."""

    method: str
    params: dict[str, Any]
    response: dict[str, Any]
    client_port: int = 0  # the caller's TCP port: one port for several calls means one kept-alive connection
    at: float = 0.0  # time.perf_counter() when the call arrived (before the simulator checked or answered it)


@dataclass
class Fault:
    """A fault a test injected: the next `remaining` calls of `method` fail or answer late."""

    method: str
    remaining: int
    error: str | None
    status: int
    retry_after: float | None
    delay: float


@dataclass
class Hook:
    """A response_url: where its messages go, the message it may replace and how often it was used."""

    tag: str
    channel: str | None
    user_id: str | None
    message_ts: str | None
    uses: int = 0


class SlackError(Exception):
    """A Slack API error: `error` is Slack's code, `extra` further keys of the answer."""

    def __init__(self, error: str, **extra: Any) -> None:
        """An error Slack answers with `error`, and further keys of the answer."""
        super().__init__(error)
        self.error = error
        self.extra = extra


_JSON_PARAMS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "view": "invalid_arguments",
    "metadata": "invalid_metadata_format",
}


async def read_params(request: web.Request) -> tuple[dict[str, Any], str | None]:
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


def bearer(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header, or None."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip() or None
    return None


def with_ids(blocks: Any, random_id: Any) -> Any:
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
