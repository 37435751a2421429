"""The bolt listeners, one module and one `register(app, kit)` per surface, and what they share (`Kit`)."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.services.context import Deps
from bot.slack.in_flight import InFlight
from bot.slack.replies import Replier


@dataclass(frozen=True)
class Kit:
    """What every listener needs: the use cases' deps, the Slack client, the replier and the in-flight work."""

    deps: Deps
    client: AsyncWebClient
    replier: Replier
    in_flight: InFlight
