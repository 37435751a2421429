"""Who is calling /api: the verified Cloudflare Access token, its Slack user and whether it is an admin."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aiohttp import web

from bot.api.render import ApiFailure
from bot.auth import AccessVerifier, AuthError, Identity, KeysUnavailable
from bot.rejections import RejectionLimiter, audit_rejection
from bot.services.context import Deps
from bot.services.identity import profile_email

log = logging.getLogger("bot.api")

TOKEN_HEADER = "Cf-Access-Jwt-Assertion"
TOKEN_COOKIE = "CF_Authorization"
LOOKUP_TTL = 60.0  # seconds a Slack lookup (admins' emails, a person's user ID) is reused


@dataclass(frozen=True)
class Caller:
    """A verified caller: the token's identity, their Slack user (people only) and whether they are an admin."""

    identity: Identity
    slack_user: str | None
    admin: bool


class SlackLookups:
    """Who a token's email is in Slack, cached for a minute: their user ID, and whether they are an admin."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._users: dict[str, tuple[float, str | None]] = {}
        self._admins: tuple[float, frozenset[str]] | None = None

    async def user_for(self, email: str) -> str | None:
        """The Slack user ID whose profile email is `email`, or None."""
        hit = self._users.get(email)
        if hit and time.monotonic() - hit[0] < LOOKUP_TTL:
            return hit[1]
        user = await self.deps.directory.find_by_email(email)
        self._users[email] = (time.monotonic(), user)
        return user

    async def admin_emails(self) -> frozenset[str]:
        """The Slack profile emails of the policy's admins (an admin Slack cannot describe has none)."""
        if self._admins and time.monotonic() - self._admins[0] < LOOKUP_TTL:
            return self._admins[1]
        emails = set()
        for admin in self.deps.policy.admins:
            profile = await self.deps.directory.user_profile(admin)
            email = profile_email(profile)
            if email and not profile.get("deleted"):
                emails.add(email.strip().lower())
        self._admins = (time.monotonic(), frozenset(emails))
        return self._admins[1]


class Callers:
    """Turns a request's token into a Caller; a missing or bad token is a 401 (audited, within `rejections`)."""

    def __init__(self, deps: Deps, verifier: AccessVerifier, rejections: RejectionLimiter) -> None:
        self.deps, self.verifier, self.rejections = deps, verifier, rejections
        self.lookups = SlackLookups(deps)

    async def of(self, request: web.Request) -> Caller:
        """The verified caller of `request`, or an ApiFailure (401 unauthenticated, 503 keys_unavailable)."""
        token = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE)
        try:
            if not token:
                raise AuthError(f"no Cloudflare Access token ({TOKEN_HEADER} header or {TOKEN_COOKIE} cookie)")
            identity = await self.verifier.verify(token)
        except AuthError as exc:
            await audit_rejection(self.deps, self.rejections, {"source": "api", "why": str(exc),
                                                               "path": request.path[:200],
                                                               "remote": request.remote or ""})
            raise ApiFailure(401, "unauthenticated", str(exc)) from None
        except KeysUnavailable as exc:
            log.warning("api: %s", exc)
            raise ApiFailure(503, "keys_unavailable", "cannot verify tokens right now; try again") from None
        if identity.email is None:
            return Caller(identity, None, False)
        admin = identity.email in await self.lookups.admin_emails()
        return Caller(identity, await self.lookups.user_for(identity.email), admin)
