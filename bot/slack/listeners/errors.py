"""The one error handler: a listener that raised is logged with its traceback."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    """Register `app`'s error handler."""

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        """Log what a listener raised."""
        log.error("listener failed: %s", error, exc_info=error)
