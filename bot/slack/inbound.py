"""What Slack sends, parsed once by its real content type and handed to bolt already parsed.

bolt's own `parse_body` guesses the format from the text: a body that starts with `{` is read as JSON,
and any body containing the letters `payload` is read as an interactivity form, so a slash command whose
text (or channel, user or team name) says "payload" became `{}` and matched no listener. Here the
Content-Type decides, every string is cleaned of control characters (`bot.domain.typed.clean`) and bolt
gets the dictionary as it is.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.domain.typed import clean_tree

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MAX_FIELDS = 200  # a slash command has about 15 fields; interactivity one
# What `clean` removes or changes (C0 controls but tab and newline, CR, DEL, lone surrogates) can only be in the
# parsed strings when the text has it raw or escaped. JSON holds them raw (json.loads refuses that in a string) or
# escaped after a backslash (`\/` and `\"` are the only escapes that cannot make one); a form raw or
# percent-encoded (`%00`-`%1F`, `%7F`; its UTF-8 is decoded with replacement, so it makes no surrogates).
_RAW = "\x00-\x08\x0b-\x1f\x7f\ud800-\udfff"
_JSON_DIRTY = re.compile(f'\\\\[^/"]|[{_RAW}]')
_FORM_DIRTY = re.compile(f"%[01][0-9A-Fa-f]|%7[Ff]|[{_RAW}]")


class BodyError(ValueError):
    """A body Slack would not send: not UTF-8, not the declared content type, not an object."""


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode(raw: bytes) -> str:
    """The body as text; BodyError when it is not UTF-8 (Slack sends nothing else)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not UTF-8 (byte {exc.start})") from None


def parse_slack_body(text: str, content_type: str | None) -> dict[str, Any]:
    """A slash command's fields, an interactivity form's `payload`, or an Events API JSON object."""
    media = media_type(content_type)
    if media == JSON:
        data, dirty = _json(text, "the body"), _JSON_DIRTY.search(text) is not None
    elif media == FORM:
        try:
            fields = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS))
        except ValueError as exc:
            raise BodyError(f"the form cannot be read: {exc}") from None
        dirty = _FORM_DIRTY.search(text) is not None
        # interactivity: one field, `payload`, holding JSON; a slash command has `command` (and may say "payload")
        if "payload" in fields and "command" not in fields:
            data = _json(fields["payload"], "payload")
            dirty = dirty or _JSON_DIRTY.search(fields["payload"]) is not None
        else:
            data = fields
    else:
        raise BodyError(f"unexpected content type {media[:60]!r}")
    # Walking every string costs more than the rest of the ack; a body that cannot hold what `clean` removes
    # (see _JSON_DIRTY, _FORM_DIRTY) is handed over as parsed.
    return clean_tree(data) if dirty else data


def _json(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise BodyError(f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise BodyError(f"{what} is not a JSON object")
    return data


class ParsedBoltRequest(AsyncBoltRequest):
    """An AsyncBoltRequest whose body was parsed by us: bolt never re-reads `raw_body` to find it (lazy
    listeners get copies through `to_copyable`, which keeps the parsed body as well)."""

    def __init__(self, *, raw_body: str, body: dict[str, Any], headers: Any = None, query: Any = None,
                 context: dict[str, Any] | None = None, mode: str = "http") -> None:
        super().__init__(body="" if mode == "http" else {}, query=query, headers=headers, context=context,
                         mode=mode)
        self.raw_body = raw_body
        self.body = body
        self.context = build_async_context(AsyncBoltContext(context if context else {}), body)

    def to_copyable(self) -> ParsedBoltRequest:
        """A copy for a lazy listener, with the same parsed body."""
        return ParsedBoltRequest(raw_body=self.raw_body, body=self.body, headers=self.headers, query=self.query,
                                 context=self.context.to_copyable(), mode=self.mode)
