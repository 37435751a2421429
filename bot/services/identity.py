"""Who is asking: the Slack profile email, and the refusals for bots, guests, deleted users and no email."""

from __future__ import annotations

from typing import Any

from bot.domain.errors import ExternalError
from bot.domain.ports import Directory


def profile_email(user: dict[str, Any]) -> str | None:
    """The email on a users.info `user` object, or None when the profile shows none."""
    email = (user.get("profile") or {}).get("email")
    return str(email) if isinstance(email, str) and email else None


async def requester_email(directory: Directory, user_id: str) -> tuple[str | None, str | None]:
    """(email, None) for a person who may request access, else (None, why not in plain words)."""
    try:
        user = await directory.user_profile(user_id)
    except ExternalError as exc:
        return None, f"I could not look up your Slack profile ({exc}); please try again in a minute"
    if user.get("deleted"):
        return None, "your Slack account is deactivated, so it cannot request access"
    if user.get("is_bot") or user.get("is_app_user"):
        return None, "bots and apps cannot request access; ask as a person"
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return None, "guest accounts cannot request access; ask a full member of the workspace"
    email = profile_email(user)
    if not email:
        return None, ("your Slack profile has no email address I can read, and access is granted by email; "
                      "ask a Slack admin to add it")
    return email, None
