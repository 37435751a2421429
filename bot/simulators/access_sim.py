"""A Cloudflare Access team domain on loopback: its signing keys at /cdn-cgi/access/certs, and tokens minted with them.

Tests (and nothing else) use it to call `/api` as Cloudflare Access would forward a request: with a
`Cf-Access-Jwt-Assertion` header or a `CF_Authorization` cookie holding an RS256 JWT whose `iss` is
the team domain and whose `aud` holds the application's AUD tag. `rotate()` replaces the signing key
the way Cloudflare rotates them; `certs_calls` counts how often the keys were fetched; `certs_latency`
makes the certs endpoint answer that many seconds late (a slow team domain).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CERTS_PATH = "/cdn-cgi/access/certs"


class AccessSimulator:
    """Serves a team domain's public keys and signs Access JWTs with the matching private keys."""

    def __init__(self, aud: str = "aud-accessbot-api") -> None:
        self.aud = aud
        self.team_domain: str | None = None
        self.certs_calls = 0
        self.fail_certs = False  # answer the certs endpoint with 500 (Cloudflare having a bad day)
        self.certs_latency = 0.0  # seconds before the certs endpoint answers
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self._runner: web.AppRunner | None = None
        self.rotate()

    async def start(self) -> str:
        """Serve on 127.0.0.1 (a free port); returns the team domain URL (also the tokens' `iss`)."""
        app = web.Application()
        app.router.add_get(CERTS_PATH, self._certs)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.team_domain = f"http://127.0.0.1:{port}"
        return self.team_domain

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def rotate(self) -> str:
        """A new signing key becomes current (the old one is still published, as Cloudflare does); its kid."""
        kid = uuid.uuid4().hex
        self._keys = [(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048)), *self._keys[:1]]
        return kid

    def drop_old_keys(self) -> None:
        """Publish only the current key."""
        self._keys = self._keys[:1]

    @property
    def kid(self) -> str:
        """The current key's id."""
        return self._keys[0][0]

    def token(self, email: str | None = "alice@example.com", *, common_name: str | None = None,
              aud: str | list[str] | None = None, iss: str | None = None, ttl: float = 300, nbf: float | None = None,
              kid: str | None = None, key: rsa.RSAPrivateKey | None = None, alg: str = "RS256",
              **claims: Any) -> str:
        """An Access JWT: a user's (with `email`) or a service token's (`common_name`, no email)."""
        now = time.time()
        payload: dict[str, Any] = {
            "aud": aud if aud is not None else [self.aud], "iss": iss if iss is not None else self.team_domain,
            "iat": int(now), "exp": int(now + ttl), "sub": uuid.uuid4().hex, "type": "app",
        }
        if nbf is not None:
            payload["nbf"] = int(nbf)
        if email is not None:
            payload["email"] = email
        if common_name is not None:
            payload["common_name"] = common_name
            payload["sub"] = ""
        payload.update(claims)
        signing_key = key or self._keys[0][1]
        if alg.startswith("HS"):
            return jwt.encode(payload, "not-a-private-key-at-all-0123456789", algorithm=alg,
                              headers={"kid": kid or self.kid})
        return jwt.encode(payload, signing_key, algorithm=alg, headers={"kid": kid or self.kid})

    async def _certs(self, request: web.Request) -> web.Response:
        self.certs_calls += 1
        if self.certs_latency > 0:
            await asyncio.sleep(self.certs_latency)
        if self.fail_certs:
            return web.json_response({"error": "internal"}, status=500)
        keys = []
        for kid, private in self._keys:
            jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return web.json_response({"keys": keys, "public_cert": {"kid": keys[0]["kid"], "cert": "(omitted)"},
                                  "public_certs": [{"kid": k["kid"], "cert": "(omitted)"} for k in keys]})
