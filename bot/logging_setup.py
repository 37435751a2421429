"""Logging as JSON lines (default) or plain text, with secrets kept out."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """One JSON object per log line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON: time, level, logger, message, and the exception if any."""
        data = {"at": datetime.fromtimestamp(record.created, UTC).isoformat(), "level": record.levelname,
                "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Configure the root logger once, to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # the Socket Mode client reports every routine reconnect at INFO
    for noisy in ("httpx", "aiohttp.access", "slack_sdk", "alembic", "bot.slack.socket_mode.client"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # bolt warns that SLACK_BOT_TOKEN (read from the environment) is unused since the client carries it;
    # bot.slack.app hands bolt this logger so the level holds
    logging.getLogger("slack_bolt").setLevel(max(logging.ERROR, root.level))
