"""Cloudflare Access JWT verification for `/api` (the one PyJWT user).

A token is trusted only when it is RS256, signed by a key the team domain publishes at
`/cdn-cgi/access/certs` (picked by `kid`), its `aud` holds our AUD tag, its `iss` is the team domain,
and `exp`/`nbf` hold. Keys are cached; an unknown `kid` refetches them (Cloudflare rotates keys), at
most once every few seconds so a flood of made-up kids cannot hammer Cloudflare. Callers that need the
keys while a fetch is under way wait for that one fetch (single flight), which gives up after
FETCH_TIMEOUT: a slow or unreachable team domain costs each caller one short wait and a 503.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

REFETCH_EVERY = 5.0  # seconds between key fetches caused by an unknown kid
LEEWAY = 30  # seconds of clock skew tolerated on exp/nbf/iat
FETCH_TIMEOUT = 4.0  # seconds a key fetch may take, all of it (connect, headers, a slowly dripped body)


class AuthError(Exception):
    """The request is not authenticated (401); the message says why, without echoing the token."""


class KeysUnavailable(Exception):
    """The team domain's keys could not be fetched (503: our problem, not the caller's)."""


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for: a person (email) or a service token (common_name, no email)."""

    email: str | None
    common_name: str | None

    @property
    def is_service(self) -> bool:
        """True for a service token: it may read but not request."""
        return self.email is None

    @property
    def name(self) -> str:
        """The audit actor: the email, or the service token's common name."""
        return self.email or f"service:{self.common_name}"


def team_url(team_domain: str) -> str:
    """The team domain as the `iss` Cloudflare puts in tokens: with a scheme (https unless given), no slash."""
    domain = team_domain.strip().rstrip("/")
    return domain if "://" in domain else f"https://{domain}"


class AccessVerifier:
    """Verifies Cloudflare Access JWTs for one application (team domain + AUD tag)."""

    def __init__(self, team_domain: str, aud: str, *, http: httpx.AsyncClient | None = None) -> None:
        self.issuer = team_url(team_domain)
        self.aud = aud
        self.certs_url = f"{self.issuer}/cdn-cgi/access/certs"
        self.refetch_every = REFETCH_EVERY
        self.fetch_timeout = FETCH_TIMEOUT
        self._http = http or httpx.AsyncClient(timeout=FETCH_TIMEOUT)
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._failing = False
        self._inflight: asyncio.Task[None] | None = None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def verify(self, token: str) -> Identity:
        """The identity a token speaks for; AuthError when it must not be trusted."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("the token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise AuthError("the token is not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the token names no signing key (kid)")
        key = await self._key(kid)
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=self.aud, issuer=self.issuer,
                                leeway=LEEWAY, options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise AuthError("the token is for another application (aud)") from None
        except jwt.InvalidIssuerError:
            raise AuthError("the token is from another team domain (iss)") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"the token is invalid ({type(exc).__name__})") from None
        email = claims.get("email")
        common_name = claims.get("common_name")
        if isinstance(email, str) and "@" in email:
            return Identity(email.strip().lower(), None)
        if isinstance(common_name, str) and common_name:
            return Identity(None, common_name)
        raise AuthError("the token carries neither an email nor a service token's common_name")

    async def _key(self, kid: str) -> Any:
        """The key `kid` names: cached, or after the one fetch in flight, or after a new one if the throttle
        allows; KeysUnavailable when the fetch failed (now or moments ago)."""
        if kid not in self._keys:
            fetch = self._inflight
            if fetch is None and time.monotonic() - self._fetched_at >= self.refetch_every:
                fetch = self._start_fetch()
            if fetch is not None:
                # shielded: a caller that goes away does not cancel the fetch the others wait for
                await asyncio.shield(fetch)
            elif self._failing:
                raise KeysUnavailable(f"cannot fetch {self.certs_url} (failed moments ago)")
        if kid not in self._keys:
            raise AuthError("the token is signed with a key the team domain does not publish")
        return self._keys[kid]

    def _start_fetch(self) -> asyncio.Task[None]:
        """Start the one fetch every caller waits for; it records whether it failed and clears itself."""
        self._fetched_at = time.monotonic()
        task = asyncio.ensure_future(self._fetch())
        self._inflight = task

        def done(t: asyncio.Task[None]) -> None:
            self._inflight = None
            self._failing = t.cancelled() or t.exception() is not None  # retrieved: never "unretrieved"

        task.add_done_callback(done)
        return task

    async def _fetch(self) -> None:
        """Replace the cached keys with the ones the team domain publishes now (within fetch_timeout)."""
        try:
            async with asyncio.timeout(self.fetch_timeout):
                resp = await self._http.get(self.certs_url)
                resp.raise_for_status()
                published = resp.json().get("keys") or []
                if not isinstance(published, list):
                    raise ValueError("keys is not a list")
        except TimeoutError:
            raise KeysUnavailable(f"cannot fetch {self.certs_url}: no answer within {self.fetch_timeout:g}s") from None
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise KeysUnavailable(f"cannot fetch {self.certs_url}: {type(exc).__name__}") from None
        keys: dict[str, Any] = {}
        for jwk in published:
            if not isinstance(jwk, dict) or not jwk.get("kid") or jwk.get("kty") != "RSA":
                continue
            try:
                keys[str(jwk["kid"])] = jwt.PyJWK(jwk, algorithm="RS256").key
            except jwt.PyJWTError:
                continue
        self._keys = keys
