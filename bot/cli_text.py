"""Slack mrkdwn (as the bot posts it) turned into plain text for the terminal (the demo prints Slack messages)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# One pass over the text, left to right: the first alternative that matches at a place wins.
_TOKEN = re.compile(
    r"(?P<inert>\u200b(?P<inert_char>[*_~`])\u200b)"          # bot.slack.text.inert's neutralised character
    r"|&(?P<entity>amp|lt|gt);"                                 # escape()'s entities
    r"|<(?P<angle>[^<>\n]*)>"                                   # mentions, links, dates
    r"|```(?P<block>(?:\u200b[*_~`]\u200b|(?!```).)*?)```"     # code block
    r"|`(?P<code>(?:\u200b[*_~`]\u200b|[^`\n])*)`"             # code span
    r"|(?<!\w)(?P<mark>[*_~])(?=\S)"                            # *bold*, _italic_, ~strike~ …
    r"(?P<marked>(?:\u200b[*_~`]\u200b|(?!(?P=mark))[^\n])+?)(?<=\S)(?P=mark)(?!\w)",
    re.DOTALL,
)
# What is still read inside code: the first three alternatives of _TOKEN.
_LITERAL = re.compile(r"(?P<inert>\u200b(?P<inert_char>[*_~`])\u200b)|&(?P<entity>amp|lt|gt);|<(?P<angle>[^<>\n]*)>")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def plain(text: str) -> str:
    """`text` without Slack markup: `<@U1>` → U1, `<url|label>` → label, `<!date^…|fallback>` → fallback,
    `<!here>` → @here, no backticks, asterisks, underscores or tildes used as formatting, and the
    entities and neutralised characters of `bot.slack.text` back as the characters people typed."""
    return _TOKEN.sub(_render, text)


def _render(m: re.Match[str]) -> str:
    g = m.groupdict()
    if g["inert"] is not None:
        return g["inert_char"]
    if g["entity"] is not None:
        return _ENTITIES[g["entity"]]
    if g["angle"] is not None:
        return _angle(g["angle"])
    if g.get("marked") is not None:
        return plain(g["marked"])
    code = g["block"] if g.get("block") is not None else g.get("code")
    if code is not None:  # Slack shows code literally, but still reads entities and <…> in it
        return _LITERAL.sub(_render, code)
    return m.group(0)  # pragma: no cover - every alternative is handled above


def _angle(inside: str) -> str:
    """The plain form of one `<…>` sequence (its label when it has one)."""
    target, _, label = inside.partition("|")
    label = plain(label)
    if target.startswith("@"):                       # <@U123> or <@U123|name>
        return label or target[1:]
    if target.startswith("#"):                       # <#C123|general>
        return "#" + (label or target[1:])
    if target.startswith("!"):
        return _special(target[1:], label)
    return label or plain(target)                    # <https://…|text> or <https://…>


def _special(command: str, label: str) -> str:
    """`<!here>`, `<!subteam^S1|@team>`, `<!date^1700000000^{date}|fallback>`."""
    name, _, rest = command.partition("^")
    if name == "date":
        if label:
            return label
        stamp = rest.split("^", 1)[0]
        try:
            return datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%d %H:%M UTC")
        except (ValueError, OverflowError, OSError):
            return stamp
    if name == "subteam":
        return label or rest
    return label or "@" + name


__all__ = ["plain"]
