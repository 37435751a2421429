"""Settings from the environment (and `.env`; the environment wins), each malformed one a `ConfigError` line.

`load_settings()` reads them into `Settings`; a malformed value becomes one `ConfigError` line that names the
variable and never echoes a secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config.errors import ConfigError
from bot.config.problems import error_message, got
from bot.domain.durations import DurationError, parse_duration
from bot.domain.policy import Policy
from bot.domain.retention import DEFAULT_RETENTION, check_retention
from bot.storage.urls import normalise_database_url

__all__ = ["Settings", "load_settings"]

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _setting_duration(value: Any, *, zero_ok: bool = False) -> Any:
    """A duration setting as written (`90s`, `1h30m`) read into a timedelta; ValueError when not one."""
    if isinstance(value, str):
        try:
            value = parse_duration(value)
        except DurationError as exc:
            raise ValueError(str(exc)) from None
        if value < timedelta(0) or (value == timedelta(0) and not zero_ok):
            raise ValueError("must be longer than 0")
    return value


def _http_url(value: str) -> str:
    """The value, if it is an http(s) URL."""
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"must be an http(s) URL (got {got(value)})")
    return value


def _token(prefix: str, what: str, others: dict[str, str]) -> Callable[[SecretStr | None], SecretStr | None]:
    """A check that a Slack token looks like `prefix…`; the message names what it looks like, never its value."""
    shape = re.compile(re.escape(prefix) + r"[A-Za-z0-9][A-Za-z0-9-]*")

    def check(value: SecretStr | None) -> SecretStr | None:
        """The token, stripped, if it has the token's shape; None when unset or empty."""
        if value is None:
            return None
        token = value.get_secret_value().strip()
        if not token:
            return None
        if shape.fullmatch(token):
            return SecretStr(token)
        for other, hint in others.items():
            if token.startswith(other):
                raise ValueError(f"must be {what} ({prefix}…); this one starts with {other}, {hint}")
        raise ValueError(f"must be {what} ({prefix}…, letters, digits and dashes)")

    return check


_bot_token = _token("xoxb-", "the bot token", {
    "xoxp-": "a user token (use the Bot User OAuth Token)", "xapp-": "an app-level token (it goes in SLACK_APP_TOKEN)"})
_app_token = _token("xapp-", "an app-level token", {
    "xoxb-": "the bot token (it goes in SLACK_BOT_TOKEN)", "xoxp-": "a user token"})


class Settings(BaseSettings):
    """Everything `accessbot` reads from the environment (and `.env`; the environment wins).

    Env names are the field names in capitals (`accessbot_port` <- `ACCESSBOT_PORT`). Tokens and the
    signing secret are `SecretStr` (masked in repr and str); `database_url` is left out of repr
    because it may carry a password. Unknown variables are ignored; an empty one counts as unset.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
        env_ignore_empty=True,
        validate_default=False,
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    cloudflare_api_token: SecretStr | None = None
    cloudflare_account_id: str | None = None
    cloudflare_api_url: str = "https://api.cloudflare.com/client/v4"
    database_url: str = Field(default="sqlite+aiosqlite:///accessbot.db", repr=False)
    accessbot_policy: str = "policy.yml"
    accessbot_host: str = "0.0.0.0"
    accessbot_port: int = Field(default=3000, ge=0, le=65535)
    cf_access_team_domain: str | None = None
    cf_access_aud: str | None = None
    log_level: str = "INFO"
    log_format: str = "json"
    accessbot_log_debug: str = ""  # logger names let through below WARNING (QUIET_LOGGERS), comma-separated
    # operational knobs
    accessbot_revoke_alert_after: timedelta = timedelta(minutes=3)
    accessbot_reconcile_interval: timedelta = timedelta(hours=1)
    accessbot_cf_timeout: float = Field(default=10.0, gt=0)
    # Cloudflare calls the bot may make in any 5 minutes (all replicas together; Cloudflare allows 1,200)
    # and how many of them may go at once (bot.domain.budget)
    accessbot_cf_budget: int = Field(default=1100, ge=100, le=1200)
    accessbot_cf_burst: int = Field(default=50, ge=1, le=150)
    # at most this many requests and extensions filed by one person in any ACCESSBOT_FILING_WINDOW; 0 = no limit
    accessbot_filing_limit: int = Field(default=10, ge=0, le=100_000)
    accessbot_filing_window: timedelta = timedelta(minutes=10)
    # Slack commands, clicks and events acked and still being worked on, at most; beyond, "busy"; 0 = no limit
    accessbot_max_pending_work: int = Field(default=300, ge=0, le=100_000)
    # the part of Slack's documented rate limits this process uses (README §7): 1 / the number of replicas
    accessbot_slack_rate_share: float = Field(default=1.0, gt=0, le=1)
    # signed audit checkpoints (README §8): the signing key file, where copies go, how often, the verifying key
    accessbot_audit_key_file: str | None = None
    accessbot_audit_checkpoint_dir: str | None = None
    accessbot_audit_checkpoint_interval: timedelta = timedelta(hours=1)
    accessbot_audit_public_key: str | None = None
    # done outbox effects and delivery keys older than this are deleted (0 keeps everything; audit events always stay)
    accessbot_retention: timedelta = DEFAULT_RETENTION
    # on-call approval (a role's `oncall` key): PagerDuty's REST API v2 token and base URL, and its timeout
    pagerduty_api_token: SecretStr | None = None
    pagerduty_api_url: str = "https://api.pagerduty.com"
    pagerduty_timeout: float = Field(default=5.0, gt=0, le=60)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        """The database URL in the async-driver form."""
        return normalise_database_url(value)

    @field_validator("slack_bot_token")
    @classmethod
    def _slack_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        """The bot token (xoxb-…), or None when unset."""
        return _bot_token(value)

    @field_validator("slack_app_token")
    @classmethod
    def _slack_app_token(cls, value: SecretStr | None) -> SecretStr | None:
        """The app-level token (xapp-…), or None when unset."""
        return _app_token(value)

    @field_validator("cloudflare_account_id")
    @classmethod
    def _account_id(cls, value: str | None) -> str | None:
        """The Cloudflare account ID in lower case, or None when unset."""
        if value is None or not value.strip():
            return None
        account = value.strip()
        if not re.fullmatch(r"[0-9a-fA-F]{32}", account):
            raise ValueError(f"must be 32 hex characters, the Account ID on the Cloudflare dashboard "
                             f"(got {len(account)} character{'s' if len(account) != 1 else ''})")
        return account.lower()

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        """The Slack Web API base URL, ending in a slash."""
        # slack_sdk joins base_url and the method name without a separator
        return _http_url(value) if value.endswith("/") else _http_url(value) + "/"

    @field_validator("cloudflare_api_url")
    @classmethod
    def _cloudflare_url(cls, value: str) -> str:
        """The Cloudflare API base URL, without a trailing slash."""
        return _http_url(value).rstrip("/")

    @field_validator("pagerduty_api_url")
    @classmethod
    def _pagerduty_url(cls, value: str) -> str:
        """PagerDuty's REST API base URL, without a trailing slash."""
        return _http_url(value).rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        """The log level in capitals (WARN is WARNING)."""
        level = value.strip().upper()
        level = "WARNING" if level == "WARN" else level
        if level not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)} (got {got(value)})")
        return level

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        """The log format, json or text."""
        fmt = value.strip().lower()
        if fmt not in ("json", "text"):
            raise ValueError(f"must be json or text (got {got(value)})")
        return fmt

    @field_validator("accessbot_revoke_alert_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """How long a revoke may stay undone before an alert."""
        return _setting_duration(value)

    @field_validator("accessbot_filing_window", mode="before")
    @classmethod
    def _filing_window(cls, value: Any) -> Any:
        """The window the filing limit counts over."""
        return _setting_duration(value)

    @field_validator("accessbot_reconcile_interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> Any:
        """0 turns the periodic drift check off."""
        return _setting_duration(value, zero_ok=True)

    @field_validator("accessbot_audit_checkpoint_interval", mode="before")
    @classmethod
    def _checkpoint_interval(cls, value: Any) -> Any:
        """0 turns periodic checkpoints off (`accessbot audit checkpoint` still writes one)."""
        return _setting_duration(value, zero_ok=True)

    @field_validator("accessbot_retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        """A duration like 30d; 0 keeps everything."""
        return _setting_duration(value, zero_ok=True)

    @field_validator("accessbot_retention")
    @classmethod
    def _retention_floor(cls, value: timedelta) -> timedelta:
        """At least the replay window (bot.domain.retention.RETENTION_FLOOR), unless 0."""
        return check_retention(value)

    @property
    def socket_mode(self) -> bool:
        """True when SLACK_APP_TOKEN is set: Socket Mode instead of HTTP."""
        return _is_set(self.slack_app_token)

    @property
    def api_enabled(self) -> bool:
        """True when both CF_ACCESS_TEAM_DOMAIN and CF_ACCESS_AUD are set: `/api` is on."""
        return bool(self.cf_access_team_domain and self.cf_access_aud)

    def require_for_serve(self) -> None:
        """Raise ConfigError naming the first variable `serve` needs and lacks."""
        if not _is_set(self.slack_bot_token):
            raise ConfigError("SLACK_BOT_TOKEN: not set (accessbot serve needs the bot token, xoxb-…)")
        if not _is_set(self.cloudflare_api_token):
            raise ConfigError("CLOUDFLARE_API_TOKEN: not set (accessbot serve needs a Cloudflare API token)")
        if not self.socket_mode and not _is_set(self.slack_signing_secret):
            raise ConfigError(
                "SLACK_SIGNING_SECRET: not set (needed in HTTP mode; set SLACK_APP_TOKEN for Socket Mode)"
            )
        if bool(self.cf_access_team_domain) != bool(self.cf_access_aud):
            missing, given = (("CF_ACCESS_AUD", "CF_ACCESS_TEAM_DOMAIN") if self.cf_access_team_domain
                              else ("CF_ACCESS_TEAM_DOMAIN", "CF_ACCESS_AUD"))
            raise ConfigError(f"{missing}: not set, but {given} is (the /api needs both; unset both to turn it off)")
        if self.cf_access_team_domain and not _is_team_domain(self.cf_access_team_domain):
            raise ConfigError(f"CF_ACCESS_TEAM_DOMAIN: {self.cf_access_team_domain[:100]!r} is not a team domain "
                              "(e.g. myteam.cloudflareaccess.com)")


def require_for_policy(settings: Settings, policy: Policy) -> None:
    """Raise ConfigError when the policy needs a setting that is not set (a role with `oncall` needs
    PAGERDUTY_API_TOKEN)."""
    oncall = sorted(r.name for r in policy.roles.values() if r.oncall is not None)
    if oncall and not _is_set(settings.pagerduty_api_token):
        raise ConfigError(f"PAGERDUTY_API_TOKEN: not set, but role(s) {', '.join(oncall)} have an `oncall` key "
                          "(a PagerDuty REST API key, read-only is enough; sent as `Token token=…`)")


def _is_team_domain(value: str) -> bool:
    """True for a host name, optionally with an http(s) scheme and port: nothing else goes before /cdn-cgi."""
    value = value.strip()
    if not value or any(c.isspace() for c in value):
        return False
    url = urlsplit(value if "://" in value else f"https://{value}")
    return url.scheme in ("http", "https") and bool(url.hostname) and url.path in ("", "/") \
        and not (url.query or url.fragment or url.username)


def _is_set(secret: SecretStr | None) -> bool:
    """True when the secret is given and not empty."""
    return secret is not None and bool(secret.get_secret_value())


def _settings_error(exc: ValidationError) -> ConfigError:
    """A ValidationError of Settings as one ConfigError line, each problem naming its variable."""
    secret_fields = {
        name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
    }
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "settings"
        lines.append(f"{field.upper()}: {error_message(err, show_input=field not in secret_fields)}")
    return ConfigError("; ".join(lines))


def load_settings() -> Settings:
    """Read Settings from the environment and `.env`; raise ConfigError (one line) when one is malformed."""
    try:
        return Settings()
    except ValidationError as exc:
        raise _settings_error(exc) from None

