"""The button surface: approve, deny, revoke, cancel, extend, break-glass review, open the modal from Home, and any
other button."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.domain.ids import ID_PATTERN, normalise_id
from bot.domain.model import VoteChoice
from bot.domain.outcomes import Outcome
from bot.services import approval as approval_cases
from bot.services import breakglass as breakglass_cases
from bot.services import grants as grant_cases
from bot.services import queries
from bot.services import requests as request_cases
from bot.services.context import Deps
from bot.slack import blocks as bk
from bot.slack.errors import call
from bot.slack.home import OPEN_MODAL
from bot.slack.incident_blocks import BG_ACK, BG_REVOKE
from bot.slack.listeners import Kit
from bot.slack.listeners.views import open_request_modal
from bot.slack.modal import extend_modal
from bot.slack.text import cut


async def clicked_id(kit: Kit, body: dict[str, Any], kind: str) -> str | None:
    """The request or grant ID a button carries; a value that is not one is refused and audited."""
    value = str((body.get("actions") or [{}])[0].get("value") or "")
    ident = normalise_id(value)
    if ID_PATTERN.match(ident) and ident[0] == kind[0]:
        return ident
    await kit.replier.refused(body, "bad_value", f"that button does not carry a {kind} ID", details={
        "action_id": cut(str(body["actions"][0].get("action_id", "")), 64), "value": cut(value, 64)})
    return None


async def on_clicked_id(kit: Kit, body: dict[str, Any], kind: str,
                        case: Callable[[Deps, str, str], Awaitable[Outcome]]) -> None:
    """Run the use case `case(deps, clicker, id)` on the ID the button carries, and answer with its outcome."""
    ident = await clicked_id(kit, body, kind)
    if ident is not None:
        await kit.replier.outcome(body, await case(kit.deps, body["user"]["id"], ident))


def voting(choice: VoteChoice) -> Callable[[Deps, str, str], Awaitable[Outcome]]:
    """The vote use case for `choice`, as `on_clicked_id` calls use cases."""
    return lambda deps, user, request_id: approval_cases.vote(deps, request_id, user, choice)


async def ask_extension(kit: Kit, body: dict[str, Any]) -> None:
    """Open the Extend modal for the grant the button carries (how much longer, and why)."""
    grant_id = await clicked_id(kit, body, "grant")
    if grant_id is None:
        return
    grant = await queries.grant(kit.deps, grant_id)
    role = kit.deps.policy.role(grant.role) if grant else None
    if grant is None or role is None or grant.requester != body["user"]["id"]:
        await kit.replier.tell(body, f":warning: grant `{grant_id}` cannot be extended")
        return
    await call(kit.client.views_open, trigger_id=body["trigger_id"],
               view=extend_modal(grant.id, role, bk.when(grant.expires_at)))


async def refuse_unknown(kit: Kit, body: dict[str, Any]) -> None:
    """Refuse (and audit) a button no listener knows."""
    action = (body.get("actions") or [{}])[0]
    await kit.replier.refused(body, "unknown_action", "that button is not one I know",
                              details={"action_id": cut(str(action.get("action_id", "")), 64)})


def register_break_glass(app: AsyncApp, kit: Kit) -> None:
    """The break-glass review's buttons: Acknowledge and Revoke now (admins only; the use cases check)."""
    answers_failures = kit.replier.answers_failures

    @app.action(BG_ACK)
    @answers_failures
    async def acknowledge_break_glass(ack, body) -> None:  # noqa: ANN001
        """An admin acknowledges a break-glass grant (the review)."""
        await ack()
        await on_clicked_id(kit, body, "grant", breakglass_cases.acknowledge)

    @app.action(BG_REVOKE)
    @answers_failures
    async def revoke_break_glass(ack, body) -> None:  # noqa: ANN001
        """An admin revokes a break-glass grant from its review (the button has a confirm)."""
        await ack()
        await on_clicked_id(kit, body, "grant", breakglass_cases.revoke_now)


def register(app: AsyncApp, kit: Kit) -> None:
    """Register every button's listener; the catch-all last, so it gets only the buttons no other knows."""
    answers_failures = kit.replier.answers_failures

    @app.action(bk.APPROVE)
    @answers_failures
    async def approve(ack, body) -> None:  # noqa: ANN001
        """Approve the request."""
        await ack()
        await on_clicked_id(kit, body, "request", voting(VoteChoice.APPROVE))

    @app.action(bk.DENY)
    @answers_failures
    async def deny(ack, body) -> None:  # noqa: ANN001
        """Deny the request."""
        await ack()
        await on_clicked_id(kit, body, "request", voting(VoteChoice.DENY))

    @app.action(bk.REVOKE)
    @answers_failures
    async def revoke(ack, body) -> None:  # noqa: ANN001
        """Revoke the grant."""
        await ack()
        await on_clicked_id(kit, body, "grant", grant_cases.revoke)

    @app.action(bk.CANCEL)
    @answers_failures
    async def cancel(ack, body) -> None:  # noqa: ANN001
        """Cancel the request."""
        await ack()
        await on_clicked_id(kit, body, "request", request_cases.cancel)

    @app.action(bk.EXTEND)
    @answers_failures
    async def extend(ack, body) -> None:  # noqa: ANN001
        """Ask to extend the grant."""
        await ack()
        await ask_extension(kit, body)

    register_break_glass(app, kit)

    @app.action(OPEN_MODAL)
    @answers_failures
    async def open_modal_from_home(ack, body: dict[str, Any]) -> None:  # noqa: ANN001
        """Open the request modal from the Home tab's button."""
        await ack()
        await open_request_modal(kit, body["user"]["id"], body["trigger_id"])

    @app.action(re.compile(".*"))  # registered last: only actions no listener above knows
    @answers_failures
    async def unknown_action(ack, body: dict[str, Any]) -> None:  # noqa: ANN001
        """Refuse a button no listener above knows."""
        await ack()
        await refuse_unknown(kit, body)
