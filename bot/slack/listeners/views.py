"""The modal surface: opening the request modal, and its submission (filed after the ack, as tracked work)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.domain.errors import ExternalError
from bot.services import requests as request_cases
from bot.slack import commands
from bot.slack.errors import call
from bot.slack.listeners import Kit
from bot.slack.modal import CALLBACK, read_submission, request_modal
from bot.slack.render import slack_answer
from bot.slack.request_log import set_outcome

log = logging.getLogger(__name__)


async def open_request_modal(kit: Kit, user: str, trigger_id: str) -> None:
    """Open the request modal, listing the roles `user` may ask for."""
    roles = await commands.requestable_roles(kit.deps, user)
    await call(kit.client.views_open, trigger_id=trigger_id, view=request_modal(roles))


def submitted_state(body: dict[str, Any]) -> dict[str, Any]:
    """The submitted view's state values ({} when the payload is not shaped as Slack shapes it)."""
    view = body.get("view")
    state = view.get("state") if isinstance(view, dict) else None
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}


async def file_submission(kit: Kit, user: str, fields: dict[str, Any]) -> None:
    """File the request a good submission asked for and tell its sender by DM how it went."""
    out = await request_cases.submit(kit.deps, user, fields["role"], fields["duration"], fields["reason"],
                                     source="modal", start=fields.get("start"))
    try:
        await call(kit.client.chat_postMessage, channel=user,
                   text=slack_answer(out))
    except ExternalError as exc:
        log.warning("modal submission of %s: the answer could not be sent: %s", user, exc)


def register(app: AsyncApp, kit: Kit) -> None:
    """Register the request modal's submission listener."""

    @app.view(CALLBACK)
    async def submit_modal(ack, body: dict[str, Any]) -> None:  # noqa: ANN001
        """Errors go back on the modal's fields; a good submission closes it and is filed after the ack, in
        tracked work (shutdown and the tests wait for it; bolt's lazy listeners are untracked)."""
        fields, errors = read_submission(submitted_state(body), kit.deps.policy.roles, kit.deps.clock.now())
        if errors:
            set_outcome("invalid")
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        kit.in_flight.track(file_submission(kit, body["user"]["id"], fields))
