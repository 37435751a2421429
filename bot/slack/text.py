"""Making text people typed safe to show in Slack: it can never ping, link or format."""

from __future__ import annotations

import re

_FORMAT = re.compile(r"([*_~`])")


def escape(text: str) -> str:
    """Escape `&`, `<`, `>` as Slack requires, so `<!channel>`, `<@U…>` and links arrive as text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inert(text: str) -> str:
    """Escape and neutralise mrkdwn formatting characters (a zero-width joiner breaks *bold*, _it_ …)."""
    return _FORMAT.sub("\u200b\\1\u200b", escape(text))


def cut(text: str, limit: int) -> str:
    """Shorten to at most `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
