"""Configuration: environment settings (`bot.config.settings`) and the policy file (`bot.config.policy_file`).

Only `ConfigError` is exported here: it is the one error every layer that checks a setting raises
(preflight, Socket Mode, audit checkpoints, the CLI), so it keeps its short, stable name; everything else is
imported from the module that defines it.
"""

from bot.config.errors import ConfigError

__all__ = ["ConfigError"]
