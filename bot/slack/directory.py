"""Who people are in Slack: profiles (users.info), names and emails (users.list, users.lookupByEmail), groups."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.errors import PermanentError
from bot.slack.errors import call

log = logging.getLogger(__name__)
NAME_TTL = 3600.0  # seconds a person's display name is kept
NAME_CACHE = 10_000  # names kept at most (the oldest is dropped first)


class SlackDirectory:
    """The Directory port over the Slack Web API, with a short cache of user-group members."""

    def __init__(self, client: AsyncWebClient, *, ttl: float = 60.0) -> None:
        self.client = client
        self.ttl = ttl
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._names: dict[str, tuple[float, str | None]] = {}

    async def user_profile(self, user_id: str) -> dict[str, Any]:
        """users.info's `user` object."""
        resp = await call(self.client.users_info, user=user_id)
        return dict(resp.get("user") or {})

    async def display_name(self, user_id: str) -> str | None:
        """The name Slack shows for the person (display name, else real name), cached; None when unknown.

        For headlines only: a failed lookup costs nothing but the name (the caller falls back to the email)."""
        hit = self._names.get(user_id)
        if hit and time.monotonic() - hit[0] < NAME_TTL:
            return hit[1]
        try:
            user = await self.user_profile(user_id)
        except Exception as exc:  # noqa: BLE001 - a name is a nicety; Slack being down must not stop the message
            log.info("no name for %s: %s", user_id, exc)
            return None
        profile = user.get("profile") or {}
        name = next((str(n).strip() for n in (profile.get("display_name"), profile.get("real_name"),
                                              user.get("real_name"), user.get("name"))
                     if isinstance(n, str) and n.strip()), None)
        if len(self._names) >= NAME_CACHE:
            self._names.pop(next(iter(self._names)))
        self._names[user_id] = (time.monotonic(), name)
        return name

    async def find_by_email(self, email: str) -> str | None:
        """users.lookupByEmail: the member with this profile email, or None."""
        try:
            resp = await call(self.client.users_lookupByEmail, email=email)
        except PermanentError as exc:
            if any(e.get("code") == "users_not_found" for e in exc.errors):
                return None
            raise
        return str((resp.get("user") or {}).get("id") or "") or None

    async def find_by_name(self, name: str) -> list[str]:
        """IDs of members (deleted ones too) whose username, display name or real name is `name`.

        Pages through users.list (200 a page), so it costs one call per 200 members: for rare
        admin lookups only."""
        wanted = name.strip().lstrip("@").casefold()
        found: list[str] = []
        cursor = ""
        while True:
            resp = await call(self.client.users_list, limit=200, cursor=cursor or None)
            for member in resp.get("members") or []:
                profile = member.get("profile") or {}
                names = (member.get("name"), member.get("real_name"), profile.get("display_name"),
                         profile.get("display_name_normalized"), profile.get("real_name"),
                         profile.get("real_name_normalized"))
                if any(isinstance(n, str) and n.casefold() == wanted for n in names) and member.get("id"):
                    found.append(str(member["id"]))
            cursor = str((resp.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return found

    async def members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]:
        """User IDs in a Slack user group (cached for `ttl` seconds unless `fresh`)."""
        hit = self._groups.get(group_id)
        if hit and not fresh and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        try:
            resp = await call(self.client.usergroups_users_list, usergroup=group_id)
        except PermanentError as exc:
            if not any(e.get("code") == "no_such_subteam" for e in exc.errors):
                raise
            log.warning("user group %s named in the policy does not exist in Slack; it has no members", group_id)
            resp = {"users": []}
        users = frozenset(resp.get("users") or [])
        self._groups[group_id] = (time.monotonic(), users)
        return users

    async def user_groups_of(self, user_id: str, group_ids: tuple[str, ...], *,
                             fresh: bool = False) -> frozenset[str]:
        """Which of `group_ids` the user belongs to (`fresh`: asked of Slack now, not from the cache)."""
        out = set()
        for gid in group_ids:
            if user_id in await self.members(gid, fresh=fresh):
                out.add(gid)
        return frozenset(out)
