"""One log line per Slack request (kind, user, outcome, ms), HTTP and Socket Mode alike.

`dispatch` runs bolt on a request inside its own log scope: a fresh `trace_id` is bound, so every line
the work writes (its state changes, a warning) carries it, and the `request_id`/`grant_id` the work
touched (bound when their audit events commit) end up on the request's own line. Listeners say how it
went with `set_outcome` ("refused", "failed", …); otherwise the outcome follows bolt's answer.
"""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.logging_setup import get_logger, scope

log = get_logger("bot.slack.requests")

_KINDS = {"block_actions": "action", "view_submission": "view", "view_closed": "view", "event_callback": "event",
          "shortcut": "shortcut", "message_action": "shortcut", "block_suggestion": "options"}
_WORD = re.compile(r"[a-z][a-z-]{0,19}")
# The outcome a listener reported, in a box shared with the tasks it starts (bolt's lazy listeners).
_OUTCOME: ContextVar[dict[str, str] | None] = ContextVar("slack_outcome", default=None)


def kind_of(body: Any) -> str:
    """command, action, view, event, shortcut, options (or Slack's own type name, else "unknown")."""
    if not isinstance(body, dict):
        return "unknown"
    if "command" in body:
        return "command"
    kind = body.get("type")
    return _KINDS.get(kind, str(kind)) if kind else "unknown"


def name_of(body: Any) -> str | None:
    """What was asked, without anything a person typed: `/access request`, an action_id, a callback_id,
    an event type."""
    if not isinstance(body, dict):
        return None
    if "command" in body:
        word = (str(body.get("text") or "").split() or [""])[0].lower()
        return f"{body['command']} {word}" if _WORD.fullmatch(word) else str(body["command"])
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return actions[0].get("action_id")
    view = body.get("view")
    if str(body.get("type") or "").startswith("view") and isinstance(view, dict):
        return view.get("callback_id")
    event = body.get("event")
    return event.get("type") if isinstance(event, dict) else None


def set_outcome(outcome: str) -> None:
    """How the Slack request being handled went ("ok", "refused", "failed", "invalid")."""
    box = _OUTCOME.get()
    if box is not None:
        box["outcome"] = outcome


def log_request(transport: str, kind: str, user: str | None, outcome: str, started: float, **fields: Any) -> None:
    """The request's line: `started` is its `time.perf_counter()` on arrival."""
    log.info("slack request", transport=transport, kind=kind, user=user, outcome=outcome,
             ms=round((time.perf_counter() - started) * 1000, 1), **{k: v for k, v in fields.items() if v})


async def dispatch(bolt: AsyncApp, req: AsyncBoltRequest, started: float, transport: str) -> BoltResponse:
    """bolt's `async_dispatch` in the request's own log scope, then its line."""
    box: dict[str, str] = {}
    token = _OUTCOME.set(box)
    try:
        with scope(trace_id=uuid.uuid4().hex[:12]):
            response = None
            try:
                response = await bolt.async_dispatch(req)
                return response
            finally:
                status = response.status if response is not None else 500
                outcome = box.get("outcome") or ("ok" if status == 200 else
                                                 "unhandled" if status == 404 else "error")
                log_request(transport, kind_of(req.body), req.context.user_id, outcome, started,
                            name=name_of(req.body), status=None if status == 200 else status)
    finally:
        _OUTCOME.reset(token)
