"""What happens when a Slack notice is given up: an approval message that never arrived is told about."""

from __future__ import annotations

from bot.domain.effects import Effect, NotifyAdmins, NotifyUser, PostApproval
from bot.domain.unit_of_work import UnitOfWork
from bot.services.context import Deps


async def notice_given_up(deps: Deps, tx: UnitOfWork, effect: Effect, error: str) -> None:
    """Owe the notices a given-up Slack effect calls for (in the transaction that marks it dead).

    An approval message that could not be posted leaves a request nobody is asked about: the requester
    and the admins are told, and approvers can still decide with `/access pending` and the App Home."""
    if not isinstance(effect, PostApproval):
        return
    req = await tx.requests.get(effect.request_id)
    if req is None or not req.is_open:
        return
    event, error = "approval_not_posted", error[:400]
    await tx.outbox.owe(NotifyUser(req.requester, event, request_id=req.id, role=req.role, error=error))
    await tx.outbox.owe(NotifyAdmins(event, request_id=req.id, role=req.role, error=error))
