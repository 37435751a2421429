"""Catching structlog lines in tests, as structlog hands them to a stdlib logger."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def logged_events(logger_name: str, event: str) -> Iterator[list[dict[str, Any]]]:
    """The `event` lines logged through `logger_name` (at INFO and above) while the block runs, as dicts."""
    lines: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if isinstance(record.msg, dict) and record.msg.get("event") == event:
                lines.append(dict(record.msg))

    logger = logging.getLogger(logger_name)
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
