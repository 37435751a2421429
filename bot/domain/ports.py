"""Ports: the small interfaces the use cases need from the outside world (adapters implement them)."""

from __future__ import annotations

from typing import Any, Protocol


class AccessGroups(Protocol):
    """Cloudflare Access: groups as wholes, and ending a person's sessions.

    Every method raises `bot.domain.errors.TransientError` or `PermanentError` on failure.
    """

    async def get_group(self, account_id: str, group_id: str) -> dict[str, Any]:
        """The group object (`result` of GET /accounts/{a}/access/groups/{g})."""
        ...

    async def put_group(self, account_id: str, group_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the group with `body` (name, include, exclude, require, ...); returns the result."""
        ...

    async def revoke_user(self, account_id: str, email: str) -> None:
        """POST /accounts/{a}/access/organizations/revoke_user {"email": email}."""
        ...


class Directory(Protocol):
    """Who people are in Slack."""

    async def user_profile(self, user_id: str) -> dict[str, Any]:
        """users.info `user` object (id, deleted, is_bot, is_restricted, profile.email, ...)."""
        ...

    async def user_groups_of(self, user_id: str, group_ids: tuple[str, ...], *,
                             fresh: bool = False) -> frozenset[str]:
        """Which of `group_ids` (Slack user groups) the user belongs to; `fresh` skips any cache (a re-check
        at approval must see a removal made a moment ago)."""
        ...

    async def find_by_email(self, email: str) -> str | None:
        """The ID of the member whose profile email is `email` (None when nobody's is)."""
        ...

    async def find_by_name(self, name: str) -> list[str]:
        """IDs of the members (deleted ones too) whose username, display name or real name is `name`."""
        ...
