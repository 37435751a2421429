"""The Slack simulator's users and usergroups families: members and user groups as state, and their methods."""

from __future__ import annotations

import base64
import contextlib
import copy
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.simulators.slack_common import SlackError


class UsersApi:
    """``users.info``, ``users.list``, ``users.lookupByEmail``, ``usergroups.users.list`` and the state behind them;
    mixed into SlackSimulator, whose ``__init__`` makes the state."""

    team_id: str
    _users: dict[str, dict[str, Any]]
    _usergroups: dict[str, list[str]]

    def add_user(
        self,
        user_id: str,
        email: str | None = None,
        name: str | None = None,
        *,
        is_bot: bool = False,
        deleted: bool = False,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        tz: str = "UTC",
    ) -> dict[str, Any]:
        """Add (or replace) a workspace member; returns the user object ``users.info`` answers with."""
        name = name or user_id.lower()
        profile: dict[str, Any] = {
            "real_name": name,
            "display_name": name,
            "real_name_normalized": name,
            "display_name_normalized": name,
        }
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = "B" + user_id[1:]
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": name,
            "deleted": deleted,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "is_restricted": is_restricted,
            "is_ultra_restricted": is_ultra_restricted,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": _tz_offset(tz),
            "updated": int(time.time()),
            "profile": profile,
        }
        self._users[user_id] = user
        return copy.deepcopy(user)

    def user(self, user_id: str) -> dict[str, Any] | None:
        """The user object for an id, or None."""
        user = self._users.get(user_id)
        return copy.deepcopy(user) if user else None

    def add_usergroup(self, group_id: str, members: list[str]) -> None:
        """Add (or replace) a user group (``S…``) and its members."""
        self._usergroups[group_id] = list(members)

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        """`users.info`: one user object."""
        user = self._users.get(str(params.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        """`users.lookupByEmail`: the user with that email (case-insensitive)."""
        wanted = str(params.get("email", "")).strip().lower()
        for user in self._users.values():
            if (user.get("profile") or {}).get("email", "").lower() == wanted and wanted:
                return {"user": copy.deepcopy(user)}
        raise SlackError("users_not_found")

    def _users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every member (deleted ones too, as Slack does), paged by ``limit`` and an opaque ``cursor``."""
        cursor = str(params.get("cursor") or "")
        try:
            limit = int(params.get("limit") or 0) or 1000
            start = int(base64.b64decode(cursor).decode().removeprefix("user:")) if cursor else 0
        except (ValueError, UnicodeDecodeError):
            raise SlackError("invalid_cursor") from None
        users = list(self._users.values())
        page = users[start:start + min(limit, 1000)]
        end = start + len(page)
        next_cursor = base64.b64encode(f"user:{end}".encode()).decode() if end < len(users) else ""
        return {"members": copy.deepcopy(page), "response_metadata": {"next_cursor": next_cursor}}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """`usergroups.users.list`: the members of a user group."""
        group = self._usergroups.get(str(params.get("usergroup", "")))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group)}


def _tz_offset(tz: str) -> int:
    """The UTC offset in seconds of a time zone now (0 for an unknown zone)."""
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        offset = datetime.now(UTC).astimezone(ZoneInfo(tz)).utcoffset()
        return int(offset.total_seconds()) if offset else 0
    return 0
