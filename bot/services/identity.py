"""Who is asking: the Slack profile email, and the refusals for bots, guests, deleted users and no email."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.errors import ExternalError
from bot.domain.ports import Directory


@dataclass(frozen=True)
class Identity:
    """What users.info says about a person: their email, or why they may not ask (a code and words).

    `transient` marks a lookup that failed (Slack unreachable): worth asking again, not a refusal of
    the person."""

    email: str | None
    code: str = "ok"
    why_not: str = ""
    transient: bool = False


def profile_email(user: dict[str, Any]) -> str | None:
    """The email on a users.info `user` object, or None when the profile shows none."""
    email = (user.get("profile") or {}).get("email")
    return str(email) if isinstance(email, str) and email else None


async def identify(directory: Directory, user_id: str) -> Identity:
    """The person's email from users.info, or the reason (addressed to them) they may not request access."""
    try:
        user = await directory.user_profile(user_id)
    except ExternalError as exc:
        return Identity(None, "lookup_failed",
                        f"I could not look up the Slack profile ({exc}); please try again in a minute", True)
    if user.get("deleted"):
        return Identity(None, "deactivated", "your Slack account is deactivated, so it cannot request access")
    if user.get("is_bot") or user.get("is_app_user"):
        return Identity(None, "bot", "bots and apps cannot request access; ask as a person")
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return Identity(None, "guest", "guest accounts cannot request access; ask a full member of the workspace")
    email = profile_email(user)
    if not email:
        return Identity(None, "no_email", "your Slack profile has no email address I can read, and access is "
                                          "granted by email; ask a Slack admin to add it")
    return Identity(email)


async def requester_email(directory: Directory, user_id: str) -> tuple[str | None, str | None]:
    """(email, None) for a person who may request access, else (None, why not in plain words)."""
    found = await identify(directory, user_id)
    return found.email, (None if found.email else found.why_not)
