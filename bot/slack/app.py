"""The bolt AsyncApp: one listener per surface, one error handler.

The HTTP layer (bot.web) has already answered Slack when a command, click or event reaches a listener,
so listeners run to completion (`process_before_response=True`) and shutdown can wait for them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from weakref import WeakKeyDictionary

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.errors import ExternalError
from bot.domain.ids import ID_PATTERN, normalise_id
from bot.domain.model import VoteChoice
from bot.services import approval as approval_cases
from bot.services import conversations, queries
from bot.services import grants as grant_cases
from bot.services import requests as request_cases
from bot.services.context import Deps
from bot.slack import blocks as bk
from bot.slack import commands
from bot.slack.errors import call
from bot.slack.home import OPEN_MODAL, publish_home
from bot.slack.modal import CALLBACK as MODAL_CALLBACK
from bot.slack.modal import read_submission, request_modal
from bot.slack.replies import Replier
from bot.slack.request_log import set_outcome
from bot.slack.text import cut

log = logging.getLogger(__name__)


_BACKGROUND: WeakKeyDictionary[AsyncApp, set[asyncio.Task]] = WeakKeyDictionary()


def background_tasks(app: AsyncApp) -> set[asyncio.Task]:
    """Listener work of `app` still running after its ack; the web app uses this set as its IN_FLIGHT."""
    return _BACKGROUND.setdefault(app, set())


def build_app(deps: Deps, client: AsyncWebClient, signing_secret: str, *, early_ack: bool = True) -> AsyncApp:
    """The bolt app with every listener registered (nothing runs until a request arrives).

    `early_ack=False` gives bolt's own ack path (its runner polls for `ack()` every 10 ms); the
    benchmark compares the two.
    """
    # bolt's own logger: setup_logging keeps it at ERROR (bolt otherwise warns that the SLACK_BOT_TOKEN it
    # finds in the environment is unused, since the client carries it)
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=early_ack,
                   logger=logging.getLogger("slack_bolt"),
                   request_verification_enabled=True,
                   ignoring_self_events_enabled=False)

    background = background_tasks(app)
    replier = Replier(deps, client)
    answers_failures = replier.answers_failures

    @app.command("/access")
    @answers_failures
    async def access_command(ack, command: dict[str, Any], body: dict[str, Any], respond) -> None:  # noqa: ANN001
        await ack()
        if not (command.get("text") or "").strip():
            await _open_modal(command["user_id"], command["trigger_id"])
            return
        reply = await commands.handle(deps, command["user_id"], command.get("text") or "")
        await replier.tell(body, respond, reply.text, reply.blocks)

    async def _clicked_id(body: dict[str, Any], respond, kind: str) -> str | None:  # noqa: ANN001
        """The request or grant ID a button carries; a value that is not one is refused and audited."""
        value = str((body.get("actions") or [{}])[0].get("value") or "")
        ident = normalise_id(value)
        if ID_PATTERN.match(ident) and ident[0] == kind[0]:
            return ident
        out = await request_cases.refuse(deps, body["user"]["id"], "bad_value",
                                         f"that button does not carry a {kind} ID", details={
                                             "action_id": cut(str(body["actions"][0].get("action_id", "")), 64),
                                             "value": cut(value, 64)})
        await replier.outcome(body, respond, out)
        return None

    async def _vote(ack, body: dict[str, Any], respond, choice: VoteChoice) -> None:  # noqa: ANN001
        await ack()
        request_id = await _clicked_id(body, respond, "request")
        if request_id is None:
            return
        out = await approval_cases.vote(deps, request_id, body["user"]["id"], choice)
        await replier.outcome(body, respond, out)

    @app.action(bk.APPROVE)
    @answers_failures
    async def approve(ack, body, respond) -> None:  # noqa: ANN001
        await _vote(ack, body, respond, VoteChoice.APPROVE)

    @app.action(bk.DENY)
    @answers_failures
    async def deny(ack, body, respond) -> None:  # noqa: ANN001
        await _vote(ack, body, respond, VoteChoice.DENY)

    @app.action(bk.REVOKE)
    @answers_failures
    async def revoke(ack, body, respond) -> None:  # noqa: ANN001
        await ack()
        grant_id = await _clicked_id(body, respond, "grant")
        if grant_id is not None:
            await replier.outcome(body, respond, await grant_cases.revoke(deps, body["user"]["id"], grant_id))

    @app.action(bk.CANCEL)
    @answers_failures
    async def cancel(ack, body, respond) -> None:  # noqa: ANN001
        await ack()
        request_id = await _clicked_id(body, respond, "request")
        if request_id is not None:
            await replier.outcome(body, respond, await request_cases.cancel(deps, body["user"]["id"], request_id))

    @app.action(bk.EXTEND)
    @answers_failures
    async def extend(ack, body, respond) -> None:  # noqa: ANN001
        await ack()
        grant_id = await _clicked_id(body, respond, "grant")
        if grant_id is None:
            return
        grant = await queries.grant(deps, grant_id)
        role = deps.policy.role(grant.role) if grant else None
        duration = role.default_duration if role else None
        if duration is None:
            await replier.tell(body, respond, f":warning: grant `{grant_id}` cannot be extended")
            return
        out = await request_cases.submit_extend(deps, body["user"]["id"], grant_id, duration,
                                                "extension asked from the expiry warning")
        await replier.outcome(body, respond, out)

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        if not bk.USER_ID.match(str(event.get("user", ""))):
            log.info("app_home_opened without a user ID; ignored")
            return
        if event.get("tab") in (None, "home"):
            await conversations.saw_home(deps, event["user"])
            await publish_home(deps, client, event["user"])

    async def _open_modal(user: str, trigger_id: str) -> None:
        roles = await commands.requestable_roles(deps, user)
        await call(client.views_open, trigger_id=trigger_id, view=request_modal(roles))

    @app.action(OPEN_MODAL)
    @answers_failures
    async def open_modal_from_home(ack, body: dict[str, Any]) -> None:  # noqa: ANN001
        await ack()
        await _open_modal(body["user"]["id"], body["trigger_id"])

    def _state(body: dict[str, Any]) -> dict[str, Any]:
        """The submitted view's state values ({} when the payload is not shaped as Slack shapes it)."""
        view = body.get("view")
        state = view.get("state") if isinstance(view, dict) else None
        values = state.get("values") if isinstance(state, dict) else None
        return values if isinstance(values, dict) else {}

    @app.view(MODAL_CALLBACK)
    async def submit_modal(ack, body: dict[str, Any]) -> None:  # noqa: ANN001
        """Errors go back on the modal's fields; a good submission closes it and is filed after the ack, in a
        task the web app tracks (shutdown and the tests wait for it; bolt's lazy listeners are untracked)."""
        fields, errors = read_submission(_state(body), deps.policy.roles)
        if errors:
            set_outcome("invalid")
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        task = asyncio.create_task(file_submission(body["user"]["id"], fields))
        background.add(task)
        task.add_done_callback(background.discard)

    async def file_submission(user: str, fields: dict[str, Any]) -> None:
        out = await request_cases.submit(deps, user, fields["role"], fields["duration"], fields["reason"],
                                         source="modal")
        try:
            await call(client.chat_postMessage, channel=user,
                       text=out.message if out.ok else f":warning: {out.message}")
        except ExternalError as exc:
            log.warning("modal submission of %s: the answer could not be sent: %s", user, exc)

    @app.action(re.compile(".*"))  # registered last: only actions no listener above knows
    @answers_failures
    async def unknown_action(ack, body: dict[str, Any], respond) -> None:  # noqa: ANN001
        await ack()
        action = (body.get("actions") or [{}])[0]
        out = await request_cases.refuse(deps, body["user"]["id"], "unknown_action", "that button is not one I know",
                                         details={"action_id": cut(str(action.get("action_id", "")), 64)})
        await replier.outcome(body, respond, out)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("listener failed: %s", error, exc_info=error)

    return app
