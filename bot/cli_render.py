"""Use-case outcomes in the terminal's words: plain text, and the `accessbot` command where Slack names `/access`."""

from __future__ import annotations

from bot.domain.outcomes import Outcome
from bot.domain.wording import Style, say


class CliStyle(Style):
    """Plain text; where a person is pointed at their grants, the operator is pointed at `accessbot grants`."""

    list_yours = "accessbot grants lists them"


CLI = CliStyle()


def cli_text(outcome: Outcome) -> str:
    """The outcome as one plain line for the terminal."""
    return say(outcome, CLI)
