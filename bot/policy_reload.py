"""Policy changes without a restart: re-read the policy file, validate it, swap it in at once, audit it.

`serve` reloads on SIGHUP and when `accessbot policy reload` asks (a PostgreSQL NOTIFY every replica
listens to, or on SQLite a SIGHUP to each registered serve process: bot/storage/serve_registry.py).

A new policy is checked as at start (every problem of the file, and every role's group at Cloudflare; a group
Cloudflare cannot be reached for is a warning). A bad one is refused: each problem is logged as `place:
message`, `policy.reload_refused` is audited with the problems, and the old policy stays. A good one
replaces `Deps.policy` in one assignment (every use case, listener and worker reads it from there, so all see
the new one from their next read) and is audited as `policy.reloaded` with the file's sha256 and the roles
added, removed and changed. Grants already made keep their terms: nothing about them is recomputed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import asdict
from pathlib import Path

from bot.config.errors import ConfigError, PolicyError
from bot.config.policy_file import parse_policy
from bot.domain.audit import AuditEvent
from bot.domain.policy import Policy
from bot.domain.ports import AccessGroups
from bot.preflight import check_cloudflare
from bot.services.context import Deps, record

log = logging.getLogger(__name__)


def policy_sha256(path: str | Path) -> str:
    """The sha256 of the policy file's bytes (hex), as audited."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class PolicyReloader:
    """Reloads the policy file into `deps.policy`, one reload at a time."""

    def __init__(self, deps: Deps, path: str | Path, default_account_id: str | None,
                 groups: AccessGroups | None = None) -> None:
        """`groups` (the Cloudflare client) checks every role's group, as at start; None skips that check."""
        self.deps = deps
        self.path = Path(path)
        self.default_account_id = default_account_id
        self.groups = groups
        self._lock = asyncio.Lock()
        self.sha256: str | None = None
        with contextlib.suppress(OSError):
            self.sha256 = policy_sha256(self.path)

    async def reload(self, via: str) -> bool:
        """Re-read the file; True when the new policy is in force (or the file is unchanged), False when refused."""
        async with self._lock:
            try:
                raw = self.path.read_bytes()
            except OSError as exc:
                return await self._refuse(via, None, [f"ACCESSBOT_POLICY: cannot read {self.path}: "
                                                      f"{exc.strerror or exc}"])
            sha = hashlib.sha256(raw).hexdigest()
            try:
                new = parse_policy(raw.decode("utf-8"), str(self.path), self.default_account_id)
            except UnicodeDecodeError:
                return await self._refuse(via, sha, [f"{self.path}: not UTF-8 text"])
            except PolicyError as exc:
                return await self._refuse(via, sha, exc.problems)
            oncall = sorted(r.name for r in new.roles.values() if r.oncall is not None)
            if oncall and self.deps.oncall is None:
                return await self._refuse(via, sha, [
                    f"PAGERDUTY_API_TOKEN: not set in this serve, but role(s) {', '.join(oncall)} have an `oncall` "
                    "key; set it and restart"])
            if self.groups is not None:
                try:
                    for warning in await check_cloudflare(self.groups, new):
                        log.warning("policy reload: %s", warning)
                except ConfigError as exc:
                    return await self._refuse(via, sha, [str(exc)])
            old = self.deps.policy
            if sha == self.sha256 and new == old:
                log.info("policy reload (%s): %s is unchanged (sha256 %s)", via, self.path, sha)
                return True
            added, removed, changed = _diff(old, new)
            self.deps.policy = new  # one assignment: every reader sees the old policy or the new one
            self.sha256 = sha
            async with self.deps.store.tx() as tx:
                await record(self.deps, tx, AuditEvent("system", "policy.reloaded", details={
                    "sha256": sha, "file": str(self.path), "via": via,
                    "added": added, "removed": removed, "changed": changed}))
            log.info("policy reloaded (%s) from %s, sha256 %s: %d role(s); added %s, removed %s, changed %s",
                     via, self.path, sha, len(new.roles), _names(added), _names(removed), _names(changed))
            return True

    async def _refuse(self, via: str, sha: str | None, problems: list[str]) -> bool:
        """Log every problem, audit the refusal, keep the policy in force."""
        log.error("policy reload (%s) refused: %s has %d problem(s); the policy in force stays", via, self.path,
                  len(problems))
        for problem in problems:
            log.error("policy reload refused: %s", problem)
        async with self.deps.store.tx() as tx:
            await record(self.deps, tx, AuditEvent("system", "policy.reload_refused", details={
                "sha256": sha, "file": str(self.path), "via": via, "problems": problems}))
        return False


def _diff(old: Policy, new: Policy) -> tuple[list[str], list[str], list[str]]:
    """Role names added, removed and changed between two policies (each sorted)."""
    added = sorted(set(new.roles) - set(old.roles))
    removed = sorted(set(old.roles) - set(new.roles))
    changed = sorted(n for n in set(old.roles) & set(new.roles) if asdict(old.roles[n]) != asdict(new.roles[n]))
    return added, removed, changed


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "none"
