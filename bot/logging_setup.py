"""Logging through structlog: JSON lines (default) or plain text, context variables on every line, secrets masked.

Every line, from accessbot or from a library, goes through one stdlib handler whose structlog
`ProcessorFormatter` adds the time, level, logger and the context bound with `bind`/`scope` (the
Slack request's `trace_id`, the access request's `request_id`, the `grant_id`, …), masks secrets, and
renders JSON or text. Libraries that print headers or SQL parameters stay at WARNING whatever LOG_LEVEL
says, unless named in ACCESSBOT_LOG_DEBUG.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from bot.domain import trace

# Loggers that print request/response headers (tokens), SQL with its parameters (emails, reasons) or
# every reconnect: WARNING at most, whatever LOG_LEVEL is, unless named in ACCESSBOT_LOG_DEBUG.
QUIET_LOGGERS = ("httpcore", "httpx", "aiosqlite", "asyncpg", "sqlalchemy", "slack_sdk", "aiohttp.access",
                 "urllib3", "websockets", "alembic", "bot.slack.socket_mode.client")
# bolt warns that SLACK_BOT_TOKEN (read from the environment) is unused since the client carries it;
# bot.slack.app hands bolt this logger so the level holds.
ERROR_ONLY_LOGGERS = ("slack_bolt",)

_TOKEN = re.compile(r"\b(xox[a-z]|xapp)-[0-9A-Za-z-]+")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[0-9A-Za-z._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[0-9A-Za-z_-]*\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]*")
_MIN_SECRET = 6  # shorter configured "secrets" would mask ordinary words
# What every text the three patterns above can match contains.
_MAYBE = re.compile(r"xox[a-z]-|xapp-|(?i:bearer)\s|eyJ")


class Redactor:
    """A structlog processor masking Slack tokens, `Bearer …`, JWT-shaped strings and the configured
    secrets in every field (nested dicts and lists too). A second line of defence: nothing should log them."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len, reverse=True)

    def __call__(self, logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
        """The event with every string masked."""
        return {k: self._clean(v) for k, v in event.items()}

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, bytes | bytearray):
            return self.mask(bytes(value).decode("utf-8", "replace"))
        return value

    def mask(self, text: str) -> str:
        """`text` with every secret replaced by a marker that says what it was."""
        if len(text) < _MIN_SECRET:  # shorter than anything masked (a token, a JWT, a secret): most fields
            return text
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        if _MAYBE.search(text) is None:  # one pass instead of three substitutions, on every line's every field
            return text
        text = _TOKEN.sub(lambda m: m.group(1) + "-[redacted]", text)
        text = _BEARER.sub(lambda m: m.group(1) + " [redacted]", text)
        return _JWT.sub("[jwt]", text)


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="at"),
]

structlog.configure(
    processors=[structlog.stdlib.filter_by_level, *_SHARED, structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.processors.StackInfoRenderer(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)


def get_logger(name: str) -> Any:
    """A structlog logger writing through the stdlib logger `name`: `log.info("event", key=value, …)`."""
    return structlog.stdlib.get_logger(name)


def formatter(fmt: str = "json", secrets: Iterable[str] = ()) -> logging.Formatter:
    """The formatter of every line: context, masking, then JSON (`at`, `level`, `logger`, `msg`, fields) or text."""
    renderer: Any = (structlog.processors.JSONRenderer(ensure_ascii=False, default=str) if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0, pad_level=False,
                                                        timestamp_key="at"))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.EventRenamer("msg") if fmt == "json" else _keep,
                    Redactor(secrets),
                    _first,
                    renderer],
    )


def _keep(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    return event


def _first(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    """`at`, `level`, `logger`, `msg` first, then the fields in the order given."""
    head = {k: event.pop(k) for k in ("at", "level", "logger", "msg") if k in event}
    return {**head, **event}


def setup_logging(level: str = "INFO", fmt: str = "json", *, debug_loggers: str | Iterable[str] = "",
                  secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """Configure the root logger once, to stderr (or `stream`).

    `debug_loggers` (ACCESSBOT_LOG_DEBUG: names, comma-separated) are let through at `level` even when
    they are among QUIET_LOGGERS; `secrets` (the configured tokens and signing secret) are masked in
    every line.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    named = debug_names(debug_loggers)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in ERROR_ONLY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.ERROR, root.level))
    for name in named:
        logging.getLogger(name).setLevel(root.level)


def debug_names(value: str | Iterable[str]) -> list[str]:
    """Logger names from ACCESSBOT_LOG_DEBUG (`httpcore,aiosqlite`)."""
    items = value.split(",") if isinstance(value, str) else value
    return [n.strip() for n in items if n and n.strip()]


# ---- context ---------------------------------------------------------------------------------------

def bind(**values: Any) -> None:
    """Put these fields on every later line of the current task (None values are left out)."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


@contextmanager
def scope(**values: Any) -> Iterator[None]:
    """A unit of work's own context: these fields (and whatever is bound inside) end with the block."""
    saved = structlog.contextvars.get_contextvars()
    bind(**values)
    try:
        yield
    finally:
        rebind(saved)


def rebind(base: dict[str, Any], **values: Any) -> None:
    """Make the context `base` plus these fields (the next item of a loop: nothing of the last one stays)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**base)
    bind(**values)


def bind_grants(pairs: Iterable[tuple[str | None, str]]) -> None:
    """Bind the (request_id, grant_id) being worked on: `request_id`/`grant_id` for one grant,
    `request_ids`/`grant_ids` lists for several (one Cloudflare write may settle many)."""
    trace.bind_grants(pairs)


def context() -> dict[str, Any]:
    """The fields bound now."""
    return structlog.contextvars.get_contextvars()


_audit_log = get_logger("bot.audit")
trace.set_binder(bind)  # the use cases bind log fields through bot.domain.trace


# Fields `bind_grants` sets for a write that settles many grants: left off the audit lines, which name their own.
_BULK_FIELDS = ("request_ids", "grant_ids")


def log_audited(rows: Iterable[dict[str, Any]]) -> None:
    """One line per committed audit event (every state change is audited); its ids are bound for what follows.

    The lists of IDs a bulk write bound are left off these lines (each names its own grant) and bound again
    after them: a write settling n grants logs n short lines, not n lines of n IDs each."""
    bulk = {k: v for k, v in context().items() if k in _BULK_FIELDS}
    if bulk:
        structlog.contextvars.unbind_contextvars(*bulk)
    try:
        for row in rows:
            bind(request_id=row.get("request_id"), grant_id=row.get("grant_id"))
            _audit_log.info("audit", action=row["action"], request_id=row.get("request_id"),
                            grant_id=row.get("grant_id"), actor=row.get("actor"), role=row.get("role"),
                            seq=row.get("seq"))
    finally:
        if bulk:
            structlog.contextvars.bind_contextvars(**bulk)
