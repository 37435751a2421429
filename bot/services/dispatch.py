"""The one effect dispatcher: decodes claimed outbox rows and carries out each effect on its port."""

from __future__ import annotations

from typing import Any

from bot.domain.audit_digest import AuditDigest
from bot.domain.effects import (
    AskOnCall,
    BreakGlassReview,
    Effect,
    EscalateRequest,
    NotifyAdmins,
    NotifyApprovers,
    NotifyThread,
    NotifyUser,
    PostApproval,
    PostAuditSummary,
    RefreshApprovalMessage,
    RefreshHome,
    RemindApprovers,
    RevokeSessions,
    SyncGroup,
    decode,
)
from bot.domain.membership import list_of
from bot.domain.ports import Messenger
from bot.services.context import Deps
from bot.services.group_sync import revoke_sessions, sync_group
from bot.services.list_sync import sync_list


class NoHandler(LookupError):
    """Nothing here can carry out this effect (a chat effect with no Messenger wired)."""


def effect_of(row: Any) -> Effect:
    """The typed effect a claimed outbox row holds (raises `UndecodableEffect` for a row no code can read)."""
    return decode(row.kind, row.payload)


class Dispatcher:
    """Runs each effect type on its port: Cloudflare ones through group_sync, chat ones on the Messenger."""

    def __init__(self, deps: Deps, messenger: Messenger | None = None) -> None:
        self.deps = deps
        self.messenger = messenger

    async def carry_out(self, effect: Effect, effect_ids: list[int], *, had_alerts: bool = False) -> None:
        """Carry out one effect and mark its rows done (a group sync settles every row in `effect_ids`).

        Raises `ExternalError` to be retried (the rows stay pending) and `NoHandler` when nothing can."""
        if isinstance(effect, SyncGroup) and list_of(effect.group_id):
            await sync_list(self.deps, effect.account_id, effect.group_id, effect_ids, had_alerts=had_alerts)
            return
        if isinstance(effect, SyncGroup):
            await sync_group(self.deps, effect.account_id, effect.group_id, effect_ids, had_alerts=had_alerts)
            return
        if isinstance(effect, RevokeSessions):
            for effect_id in effect_ids:
                await revoke_sessions(self.deps, effect.account_id, effect.email, effect.grant_id, effect_id)
            return
        await self.send(effect)
        async with self.deps.store.tx() as tx:
            await tx.outbox.finish_effects(effect_ids)

    async def carry_out_digest(self, digest: AuditDigest, effect_ids: list[int]) -> None:
        """Post a backlog's audit lines as one digest, then mark all their rows done in one transaction.

        Raises `ExternalError` to be retried (every row stays pending, to go again together) and `NoHandler`
        when no Messenger is wired."""
        if self.messenger is None:
            raise NoHandler("no messenger for an audit digest")
        await self.messenger.post_audit_digest(digest)
        async with self.deps.store.tx() as tx:
            await tx.outbox.finish_effects(effect_ids)

    async def send(self, effect: Effect) -> None:
        """Hand a chat effect to the Messenger operation that carries it out."""
        m = self.messenger
        if m is None:
            raise NoHandler(f"no messenger for {effect.KIND}")
        match effect:
            case PostApproval():
                await m.post_approval(effect)
            case RefreshApprovalMessage():
                await m.refresh_approval(effect)
            case NotifyUser():
                await m.notify_user(effect)
            case NotifyThread():
                await m.notify_thread(effect)
            case NotifyApprovers():
                await m.notify_approvers(effect)
            case NotifyAdmins():
                await m.notify_admins(effect)
            case PostAuditSummary():
                await m.post_audit_summary(effect)
            case RefreshHome():
                await m.refresh_home(effect)
            case RemindApprovers():
                await m.remind_approvers(effect)
            case EscalateRequest():
                await m.escalate(effect)
            case BreakGlassReview():
                await m.break_glass_review(effect)
            case AskOnCall():
                await m.ask_oncall(effect)
            case _:
                raise NoHandler(f"no handler for {effect.KIND}")
