"""The two errors configuration raises: `ConfigError` (a setting) and `PolicyError` (the policy file)."""

from __future__ import annotations


class ConfigError(Exception):
    """A missing or malformed setting: one clear line that names the variable."""


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
