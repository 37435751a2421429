"""Use-case outcomes in Slack's words: mentions as `<@U…>`, names and commands in backticks, text escaped once."""

from __future__ import annotations

from datetime import datetime

from bot.domain.outcomes import Outcome
from bot.domain.wording import Style, say
from bot.slack.text import escape, inert

_ZWSP = "\u200b"


class SlackStyle(Style):
    """mrkdwn: code spans for names, IDs and commands; `<@U…>` mentions; everything from outside escaped."""

    list_yours = "`/access list` shows yours"

    def code(self, value: str) -> str:
        """A code span, shown literally by Slack; a value with a backtick (which would end it) or a zero-width
        space (which would read as a neutralised character) has its formatting characters neutralised."""
        return f"`{inert(value) if '`' in value or _ZWSP in value else escape(value)}`"

    def command(self, value: str) -> str:
        """A command as a code span."""
        return self.code(value)

    def user(self, user_id: str) -> str:
        """A mention."""
        return f"<@{escape(user_id)}>"

    def text(self, value: str) -> str:
        """Outside words, escaped so they cannot ping, link or format."""
        return inert(value)

    def when(self, value: datetime) -> str:
        """A moment each reader sees in their own timezone (`<!date^…>`, with a UTC fallback)."""
        return f"<!date^{int(value.timestamp())}^{{date_short_pretty}} {{time}}|{Style.when(self, value)}>"


SLACK = SlackStyle()


def slack_text(outcome: Outcome) -> str:
    """The outcome as Slack mrkdwn, exactly as the person is told it."""
    return say(outcome, SLACK)


def slack_answer(outcome: Outcome, *, capitalise: bool = False) -> str:
    """The answer to show: what was done, or the refusal after a warning sign (first letter raised if asked)."""
    text = slack_text(outcome)
    if outcome.ok:
        return text
    return f":warning: {text[:1].upper()}{text[1:]}" if capitalise else f":warning: {text}"
