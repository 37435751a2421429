"""The two errors configuration raises: `ConfigError` (a setting) and `PolicyError` (the policy file)."""

from __future__ import annotations

from bot.domain.errors import ConfigError  # the use cases raise it too (a checkpoint key file), so it is the domain's

__all__ = ["ConfigError", "PolicyError"]


class PolicyError(Exception):
    """A policy file with problems; `.problems` lists every one as `place: message`."""

    def __init__(self, problems: list[str], source: str = "policy.yml") -> None:
        """A PolicyError for these problems (`source` names the file when there are several)."""
        self.problems = list(problems)
        self.source = source
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = f"{source}: {len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(text)
