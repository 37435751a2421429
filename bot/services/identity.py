"""Who is asking: the Slack profile email, and the refusals for bots, guests, deleted users and no email."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.errors import ExternalError
from bot.domain.outcomes import Refused
from bot.domain.ports import Directory
from bot.domain.wording import explain


@dataclass(frozen=True)
class Identity:
    """What users.info says about a person: their email, or why they may not ask (a code and, for a failed
    lookup, what was looked up and the error).

    `transient` marks a lookup that failed (Slack unreachable): worth asking again, not a refusal of
    the person."""

    email: str | None
    code: str = "ok"
    looked_up: str = ""
    error: str = ""
    transient: bool = False
    tz: str | None = None  # users.info `tz` (IANA name), for reading the times the person types

    @property
    def facts(self) -> dict[str, str]:
        """Why the person may not ask, as the facts of a refusal (see bot.domain.wording, form `identity`)."""
        return {"identity": self.code, "looked_up": self.looked_up, "error": self.error}


def profile_email(user: dict[str, Any]) -> str | None:
    """The email on a users.info `user` object, or None when the profile shows none."""
    email = (user.get("profile") or {}).get("email")
    return str(email) if isinstance(email, str) and email else None


async def identify(directory: Directory, user_id: str) -> Identity:
    """The person's email from users.info, or the reason (addressed to them) they may not request access."""
    try:
        user = await directory.user_profile(user_id)
    except ExternalError as exc:
        return Identity(None, "lookup_failed", "Slack profile", str(exc), True)
    if user.get("deleted"):
        return Identity(None, "deactivated")
    if user.get("is_bot") or user.get("is_app_user"):
        return Identity(None, "bot")
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return Identity(None, "guest")
    email = profile_email(user)
    if not email:
        return Identity(None, "no_email")
    tz = user.get("tz")
    return Identity(email, tz=tz if isinstance(tz, str) and tz else None)


async def requester_email(directory: Directory, user_id: str) -> tuple[str | None, str | None]:
    """(email, None) for a person who may request access, else (None, why not in plain words)."""
    found = await identify(directory, user_id)
    return found.email, (None if found.email else explain(Refused("no_identity", found.facts, "identity")))
