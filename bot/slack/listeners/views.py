"""The modal surface: opening the request modal, and its submission (filed after the ack, as tracked work)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.domain.errors import ExternalError
from bot.domain.ids import ID_PATTERN
from bot.domain.outcomes import Outcome
from bot.services import queries
from bot.services import requests as request_cases
from bot.slack import commands
from bot.slack.errors import call
from bot.slack.listeners import Kit
from bot.slack.modal import (
    CALLBACK,
    EXTEND_CALLBACK,
    ROLE_SEARCH,
    read_extend,
    read_submission,
    request_modal,
    role_options,
)
from bot.slack.render import slack_answer
from bot.slack.request_log import set_outcome
from bot.slack.text import cut

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
    await answer_by_dm(kit, user, out)


async def file_extension(kit: Kit, user: str, grant_id: str, fields: dict[str, Any]) -> None:
    """Ask for the extension a good Extend modal asked for and tell its sender by DM how it went."""
    out = await request_cases.submit_extend(kit.deps, user, grant_id, fields["duration"], fields["reason"],
                                            source="modal")
    await answer_by_dm(kit, user, out)


async def answer_by_dm(kit: Kit, user: str, out: Outcome) -> None:
    """Tell the person who submitted a modal what came of it (a modal has no response_url)."""
    try:
        await call(kit.client.chat_postMessage, channel=user,
                   text=slack_answer(out))
    except ExternalError as exc:
        log.warning("modal submission of %s: the answer could not be sent: %s", user, exc)


def register(app: AsyncApp, kit: Kit) -> None:
    """Register the request modal's submission listener."""

    @app.options(ROLE_SEARCH)
    async def search_roles(ack, body: dict[str, Any]) -> None:  # noqa: ANN001
        """The role menu of a modal with more than 100 roles: the roles the person may request that match
        what they typed."""
        roles = await commands.requestable_roles(kit.deps, body["user"]["id"])
        typed = body.get("value") if isinstance(body.get("value"), str) else ""
        await ack(options=role_options(roles, cut(typed, 200)))

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

    @app.view(EXTEND_CALLBACK)
    async def submit_extension(ack, body: dict[str, Any]) -> None:  # noqa: ANN001
        """The Extend modal: errors go back on its fields; a good one closes it and is asked after the ack."""
        view = body.get("view") if isinstance(body.get("view"), dict) else {}
        grant_id = str(view.get("private_metadata") or "")
        if not ID_PATTERN.match(grant_id) or grant_id[0] != "g":
            set_outcome("invalid")
            await ack(response_action="errors", errors={"duration": "This form does not name a grant"})
            return
        grant = await queries.grant(kit.deps, grant_id)
        role = kit.deps.policy.role(grant.role) if grant else None
        fields, errors = read_extend(submitted_state(body), role)
        if errors:
            set_outcome("invalid")
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        kit.in_flight.track(file_extension(kit, body["user"]["id"], grant_id, fields))
