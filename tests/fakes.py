"""In-memory fakes of the ports (Cloudflare groups, the Slack directory, the Messenger) for unit tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
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
)
from bot.domain.errors import ExternalError
from bot.domain.ports import OnCallPerson


class FakeGroups:
    """AccessGroups in memory: whole-group GET/PUT, Zero Trust lists, revoke_user, call counts, scripted failures."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.revoked: list[tuple[str, str]] = []
        self.failures: list[ExternalError] = []
        self.lists: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, account_id: str, group_id: str, include: list[dict[str, Any]] | None = None) -> None:
        """Create a group with these include rules."""
        self.groups[(account_id, group_id)] = {"id": group_id, "name": "g", "include": include or [],
                                               "exclude": [], "require": []}

    def emails(self, account_id: str, group_id: str) -> list[str]:
        """Emails of plain email rules in the group's include, in order."""
        return [r["email"]["email"] for r in self.groups[(account_id, group_id)]["include"] if "email" in r]

    def add_list(self, account_id: str, list_id: str, values: list[str] | None = None, type_: str = "EMAIL") -> None:
        """Create a Zero Trust list of that type with these values."""
        self.lists[(account_id, list_id)] = {"id": list_id, "name": "l", "type": type_,
                                             "items": [{"value": v} for v in values or []]}

    def list_values(self, account_id: str, list_id: str) -> list[str]:
        """The list's values, in order."""
        return [i["value"] for i in self.lists[(account_id, list_id)]["items"]]

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    async def get_group(self, account_id: str, group_id: str) -> dict[str, Any]:
        self.calls.append(("GET", group_id))
        self._maybe_fail()
        return copy.deepcopy(self.groups[(account_id, group_id)])

    async def put_group(self, account_id: str, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("PUT", group_id))
        self._maybe_fail()
        self.groups[(account_id, group_id)] = {"id": group_id, **copy.deepcopy(body)}
        return copy.deepcopy(self.groups[(account_id, group_id)])

    async def revoke_user(self, account_id: str, email: str) -> None:
        self.calls.append(("REVOKE_USER", email))
        self._maybe_fail()
        self.revoked.append((account_id, email))

    async def get_list(self, account_id: str, list_id: str) -> dict[str, Any]:
        self.calls.append(("GET_LIST", list_id))
        self._maybe_fail()
        found = self.lists[(account_id, list_id)]
        return {k: v for k, v in found.items() if k != "items"} | {"count": len(found["items"])}

    async def get_list_items(self, account_id: str, list_id: str) -> list[dict[str, Any]]:
        self.calls.append(("GET_ITEMS", list_id))
        self._maybe_fail()
        return copy.deepcopy(self.lists[(account_id, list_id)]["items"])

    async def patch_list(self, account_id: str, list_id: str, append: list[str], remove: list[str]) -> None:
        self.calls.append(("PATCH", list_id))
        self._maybe_fail()
        found = self.lists[(account_id, list_id)]
        gone = {v.lower() for v in remove}
        kept = [i for i in found["items"] if i["value"].lower() not in gone]
        have = {i["value"].lower() for i in kept}
        found["items"] = kept + [{"value": v} for v in append if v.lower() not in have]


class FakeDirectory:
    """Slack users and user groups in memory."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, set[str]] = {}

    def add_user(self, user_id: str, email: str | None, **flags: Any) -> None:
        """A user with a profile email and flags such as is_bot, deleted, is_restricted."""
        self.users[user_id] = {"id": user_id, "profile": {"email": email} if email else {}, **flags}

    async def user_profile(self, user_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.users.get(user_id, {"id": user_id, "profile": {}}))

    async def user_groups_of(self, user_id: str, group_ids: tuple[str, ...], *,
                             fresh: bool = False) -> frozenset[str]:
        return frozenset(g for g in group_ids if user_id in self.groups.get(g, set()))

    async def find_by_email(self, email: str) -> str | None:
        wanted = email.lower()
        return next((uid for uid, u in self.users.items()
                     if str(u.get("profile", {}).get("email", "")).lower() == wanted), None)

    async def find_by_name(self, name: str) -> list[str]:
        wanted = name.casefold()
        return [uid for uid, u in self.users.items() if str(u.get("name", "")).casefold() == wanted]


class RecordingMessenger:
    """The Messenger port in memory: records every effect carried out (`sent`) and the operation each
    call was (`calls`, failed ones too), in order; `fail` (given the effect) may raise to script a failure."""

    def __init__(self) -> None:
        self.sent: list[Effect | AuditDigest] = []
        self.calls: list[tuple[str, Effect | AuditDigest]] = []
        self.fail: Callable[[Effect | AuditDigest], None] | None = None

    async def _record(self, op: str, effect: Effect | AuditDigest) -> None:
        self.calls.append((op, effect))
        if self.fail is not None:
            self.fail(effect)
        self.sent.append(effect)

    async def post_approval(self, effect: PostApproval) -> None:
        await self._record("post_approval", effect)

    async def refresh_approval(self, effect: RefreshApprovalMessage) -> None:
        await self._record("refresh_approval", effect)

    async def notify_user(self, effect: NotifyUser) -> None:
        await self._record("notify_user", effect)

    async def notify_thread(self, effect: NotifyThread) -> None:
        await self._record("notify_thread", effect)

    async def notify_approvers(self, effect: NotifyApprovers) -> None:
        await self._record("notify_approvers", effect)

    async def notify_admins(self, effect: NotifyAdmins) -> None:
        await self._record("notify_admins", effect)

    async def post_audit_summary(self, effect: PostAuditSummary) -> None:
        await self._record("post_audit_summary", effect)

    async def post_audit_digest(self, digest: AuditDigest) -> None:
        await self._record("post_audit_digest", digest)

    async def refresh_home(self, effect: RefreshHome) -> None:
        await self._record("refresh_home", effect)

    async def remind_approvers(self, effect: RemindApprovers) -> None:
        await self._record("remind_approvers", effect)

    async def escalate(self, effect: EscalateRequest) -> None:
        await self._record("escalate", effect)

    async def break_glass_review(self, effect: BreakGlassReview) -> None:
        await self._record("break_glass_review", effect)

    async def ask_oncall(self, effect: AskOnCall) -> None:
        await self._record("ask_oncall", effect)


class FakeOnCall:
    """The OnCall port in memory: who is on call in each schedule (`on_call`), a scripted failure (`fail`), and
    every question asked (`asked`: the schedule IDs of each call)."""

    def __init__(self) -> None:
        self.on_call: dict[str, list[OnCallPerson]] = {}
        self.fail: ExternalError | None = None
        self.asked: list[tuple[str, ...]] = []

    def put(self, schedule_id: str, *emails: str) -> None:
        """These people (by email) are on call now in the schedule."""
        self.on_call[schedule_id] = [OnCallPerson(e, e.split("@")[0], f"P{e[:5].upper()}", schedule_id)
                                     for e in emails]

    async def on_call_now(self, schedule_ids: tuple[str, ...]) -> tuple[OnCallPerson, ...]:
        """Everyone on call in the schedules, or the scripted failure."""
        self.asked.append(schedule_ids)
        if self.fail is not None:
            raise self.fail
        return tuple(p for s in schedule_ids for p in self.on_call.get(s, []))

    async def is_on_call(self, email: str, schedule_ids: tuple[str, ...]) -> OnCallPerson | None:
        """The person with this email among those on call, else None."""
        return next((p for p in await self.on_call_now(schedule_ids) if p.email.lower() == email.lower()), None)
