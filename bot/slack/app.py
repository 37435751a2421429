"""The bolt AsyncApp, built with each surface's listeners (`bot.slack.listeners`) and one error handler.

The ingress (bot.slack.ingress) has already answered Slack when a command, click or event reaches a listener,
so listeners run to completion (`process_before_response=True`) and shutdown can wait for them.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.context import Deps
from bot.slack.in_flight import InFlight
from bot.slack.listeners import Kit, actions, commands, errors, events, views
from bot.slack.replies import Replier
from bot.slack.response_urls import ResponseUrls


def build_app(deps: Deps, client: AsyncWebClient, signing_secret: str, *, early_ack: bool = True,
              in_flight: InFlight | None = None, responses: ResponseUrls | None = None) -> AsyncApp:
    """The bolt app with every listener registered (nothing runs until a request arrives).

    `early_ack=False` gives bolt's own ack path (its runner polls for `ack()` every 10 ms); the
    benchmark compares the two. Work listeners start after their ack joins `in_flight` (give it the
    ingress's, so shutdown waits for it). Replies to response_urls go over `responses`' one session (give
    the bot's, so shutdown closes it).
    """
    # bolt's own logger: setup_logging keeps it at ERROR (bolt otherwise warns that the SLACK_BOT_TOKEN it
    # finds in the environment is unused, since the client carries it)
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=early_ack,
                   logger=logging.getLogger("slack_bolt"),
                   request_verification_enabled=True,
                   ignoring_self_events_enabled=False)
    replier = Replier(deps, client, responses if responses is not None else ResponseUrls())
    kit = Kit(deps, client, replier, in_flight if in_flight is not None else InFlight())
    commands.register(app, kit)
    actions.register(app, kit)
    views.register(app, kit)
    events.register(app, kit)
    errors.register(app)
    return app
