"""What happens when a Slack notice is given up: an approval message that never arrived is told about."""

from __future__ import annotations

from typing import Any

from bot.domain.unit_of_work import UnitOfWork
from bot.services.context import Deps


async def notice_given_up(deps: Deps, tx: UnitOfWork, kind: str, payload: dict[str, Any], error: str) -> None:
    """Owe the notices a given-up Slack effect calls for (in the transaction that marks it dead).

    An approval message that could not be posted leaves a request nobody is asked about: the requester
    and the admins are told, and approvers can still decide with `/access pending` and the App Home."""
    if kind != "approval.post":
        return
    req = await tx.requests.get(str(payload.get("request_id", "")))
    if req is None or not req.is_open:
        return
    notice = {"event": "approval_not_posted", "request_id": req.id, "role": req.role, "error": error[:400]}
    await tx.outbox.enqueue("notify.user", {**notice, "user": req.requester}, key="slack")
    await tx.outbox.enqueue("notify.admins", notice, key="slack")
