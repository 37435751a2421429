"""Settings from the environment and the policy file, validated.

`load_settings()` reads the environment (and a `.env` file in the working directory; the
environment wins) into `Settings`; a malformed value becomes one `ConfigError` line that names the
variable and never echoes a secret. `load_policy()` / `parse_policy()` read the YAML policy file
into the domain's `Policy`; every problem in the file is reported at once, each as `place: message`
(`roles.prod-db.max_duration: must be ≥ min_duration (8h)`), in a `PolicyError`.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.errors import ConfigError
from bot.domain.policy import Policy, Role
from bot.storage.urls import normalise_database_url

__all__ = [
    "ConfigError",
    "PolicyError",
    "Settings",
    "load_policy",
    "load_settings",
    "normalise_database_url",
    "parse_policy",
]


class PolicyError(Exception):
    """A policy file with problems; `.problems` lists every one as `place: message`."""

    def __init__(self, problems: list[str], source: str = "policy.yml") -> None:
        self.problems = list(problems)
        self.source = source
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = f"{source}: {len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(text)


# --------------------------------------------------------------------------- pydantic errors


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel = 2
    short.maxtuple = short.maxlist = short.maxarray = short.maxdict = short.maxset = short.maxfrozenset = 4
    short.maxdeque = 4
    short.maxstring, short.maxlong, short.maxother = 60, 40, 60
    return short


_SHORT_REPR = _short_repr()


def _got(value: Any) -> str:
    """A short repr of a value someone typed, for a problem line: never walks or prints more than a few
    elements of it, however big or deep it is (`repr()` of an alias-expanded list would not end)."""
    if value is None:
        return "nothing"
    try:
        text = _SHORT_REPR.repr(value)
    except ValueError:  # an int past Python's digit limit cannot even be printed
        text = "a number too big to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _key_text(key: Any) -> str:
    """A mapping key as it goes into a problem's place: as written when short, cut when long."""
    text = key if isinstance(key, str) else _got(key)
    return text if len(text) <= 64 else text[:61] + "..."


def _error_message(err: Any, *, show_input: bool = True) -> str:
    """One pydantic error (a dict from `ValidationError.errors()`) as a short human message."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = f" (got {_got(err.get('input'))})" if show_input else ""
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind in ("string_type", "string_sub_type"):
        return f"must be text{got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer{got}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number{got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false{got}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"must be a mapping{got}"
    bounds = {
        "greater_than": ("gt", ">"),
        "greater_than_equal": ("ge", "≥"),
        "less_than": ("lt", "<"),
        "less_than_equal": ("le", "≤"),
    }
    if kind in bounds:
        key, sign = bounds[kind]
        limit = ctx.get(key)
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit
        return f"must be {sign} {limit}{got}"
    msg = str(err.get("msg", kind))
    return (msg[:1].lower() + msg[1:]) + got


def _place(prefix: str, loc: tuple[Any, ...]) -> str:
    """A pydantic loc tuple as a dotted place: ('roles', 'x', 'approvers', 1) -> roles.x.approvers[1]."""
    place = prefix
    for part in loc:
        if part == "[key]":  # a dict key that failed: the place is the key itself
            continue
        if isinstance(part, int):
            place += f"[{part}]"
        else:
            place = f"{place}.{_key_text(part)}" if place else _key_text(part)
    return place or "(top level)"


def _problems(exc: ValidationError, prefix: str = "") -> list[str]:
    return [f"{_place(prefix, tuple(e['loc']))}: {_error_message(e)}" for e in exc.errors()]


# --------------------------------------------------------------------------- settings

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _setting_duration(value: Any, *, zero_ok: bool = False) -> Any:
    if isinstance(value, str):
        try:
            value = parse_duration(value)
        except DurationError as exc:
            raise ValueError(str(exc)) from None
        if value < timedelta(0) or (value == timedelta(0) and not zero_ok):
            raise ValueError("must be longer than 0")
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"must be an http(s) URL (got {_got(value)})")
    return value


def _token(prefix: str, what: str, others: dict[str, str]) -> Callable[[SecretStr | None], SecretStr | None]:
    """A check that a Slack token looks like `prefix…`; the message names what it looks like, never its value."""
    shape = re.compile(re.escape(prefix) + r"[A-Za-z0-9][A-Za-z0-9-]*")

    def check(value: SecretStr | None) -> SecretStr | None:
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
    # at most this many requests and extensions filed by one person in any ACCESSBOT_FILING_WINDOW; 0 = no limit
    accessbot_filing_limit: int = Field(default=10, ge=0, le=100_000)
    accessbot_filing_window: timedelta = timedelta(minutes=10)
    # signed audit checkpoints (README §8): the signing key file, where copies go, how often, the verifying key
    accessbot_audit_key_file: str | None = None
    accessbot_audit_checkpoint_dir: str | None = None
    accessbot_audit_checkpoint_interval: timedelta = timedelta(hours=1)
    accessbot_audit_public_key: str | None = None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("slack_bot_token")
    @classmethod
    def _slack_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        return _bot_token(value)

    @field_validator("slack_app_token")
    @classmethod
    def _slack_app_token(cls, value: SecretStr | None) -> SecretStr | None:
        return _app_token(value)

    @field_validator("cloudflare_account_id")
    @classmethod
    def _account_id(cls, value: str | None) -> str | None:
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
        # slack_sdk joins base_url and the method name without a separator
        return _http_url(value) if value.endswith("/") else _http_url(value) + "/"

    @field_validator("cloudflare_api_url")
    @classmethod
    def _cloudflare_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        level = "WARNING" if level == "WARN" else level
        if level not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)} (got {_got(value)})")
        return level

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        fmt = value.strip().lower()
        if fmt not in ("json", "text"):
            raise ValueError(f"must be json or text (got {_got(value)})")
        return fmt

    @field_validator("accessbot_revoke_alert_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return _setting_duration(value)

    @field_validator("accessbot_filing_window", mode="before")
    @classmethod
    def _filing_window(cls, value: Any) -> Any:
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


def _is_team_domain(value: str) -> bool:
    """True for a host name, optionally with an http(s) scheme and port: nothing else goes before /cdn-cgi."""
    value = value.strip()
    if not value or any(c.isspace() for c in value):
        return False
    url = urlsplit(value if "://" in value else f"https://{value}")
    return url.scheme in ("http", "https") and bool(url.hostname) and url.path in ("", "/") \
        and not (url.query or url.fragment or url.username)


def _is_set(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value())


def _settings_error(exc: ValidationError) -> ConfigError:
    secret_fields = {
        name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
    }
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "settings"
        lines.append(f"{field.upper()}: {_error_message(err, show_input=field not in secret_fields)}")
    return ConfigError("; ".join(lines))


def load_settings() -> Settings:
    """Read Settings from the environment and `.env`; raise ConfigError (one line) when one is malformed."""
    try:
        return Settings()
    except ValidationError as exc:
        raise _settings_error(exc) from None


# --------------------------------------------------------------------------- policy: YAML

_BOOL_TAG = "tag:yaml.org,2002:bool"
# Bounds that no real policy comes near and that keep a hostile one cheap to refuse (README "Policy file").
MAX_POLICY_BYTES = 512 * 1024  # the file
MAX_POLICY_DEPTH = 32  # lists and mappings inside one another (a policy needs 4)
MAX_POLICY_VALUES = 50_000  # values, once every alias is expanded (anchors may share lists, not multiply them)
MAX_INT_DIGITS = 30  # digits of an integer


class _PolicyLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (only true/false; `yes`, `no`, `on`, `off` stay text)
    that records duplicate keys instead of silently keeping the last one, refuses nesting deeper than
    MAX_POLICY_DEPTH while it reads (PyYAML's composer recurses once per level) and integers longer
    than MAX_INT_DIGITS (Python refuses to read past 4,300), and stops reading at the
    MAX_POLICY_VALUES-th value."""

    duplicates: list[str]
    depth: int = 0
    values: int = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.check_event(yaml.AliasEvent):
            self.values += 1
            if self.values > MAX_POLICY_VALUES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_POLICY_VALUES:,} values (a policy has a few hundred)",
                    self.peek_event().start_mark)
        if self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            self.depth += 1
            try:
                if self.depth > MAX_POLICY_DEPTH:
                    raise yaml.composer.ComposerError(
                        None, None, f"nested more than {MAX_POLICY_DEPTH} levels deep", self.peek_event().start_mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1
        return super().compose_node(parent, index)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(c.isalnum() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"a number with more than {MAX_INT_DIGITS} digits", node.start_mark)
        return super().construct_yaml_int(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.value in seen:
                mark = key_node.start_mark
                self.duplicates.append(f"{mark.line + 1}:{mark.column + 1}: duplicate key {_got(key_node.value)}")
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PolicyLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_PolicyLoader.add_constructor("tag:yaml.org,2002:int", _PolicyLoader.construct_yaml_int)


def _too_big(root: yaml.Node) -> str | None:
    """Why the node graph is too big once its aliases are expanded (or refers to itself), or None.

    An alias is the same node object as its anchor, so the graph is a DAG: each node's expanded size is
    counted once (memoised), without recursion, and the walk stops at the first node past the bound.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.ScalarNode) or key in size and not done:
            size.setdefault(key, 1)
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_POLICY_VALUES:
                mark = node.start_mark
                return (f"{mark.line + 1}:{mark.column + 1}: the aliases expand this to more than "
                        f"{MAX_POLICY_VALUES:,} values (an anchor may be reused, not multiplied)")
            continue
        if key in on_path:
            mark = node.start_mark
            return f"{mark.line + 1}:{mark.column + 1}: an alias refers to the value that contains it"
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    return None


def _load_yaml(text: str, source: str) -> tuple[Any, list[str]]:
    if len(text) > MAX_POLICY_BYTES:
        return None, [f"{source}: larger than {MAX_POLICY_BYTES // 1024} KiB (a policy file is a few KiB)"]
    loader = _PolicyLoader(text)
    loader.duplicates = []
    try:
        node = loader.get_single_node()
        too_big = _too_big(node) if node is not None else None
        if too_big:
            return None, [f"{source}:{too_big}"]
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        return None, [f"{where}: {exc.problem or exc.context or 'not valid YAML'}"]
    except yaml.YAMLError as exc:
        return None, [f"{source}: not valid YAML: {str(exc)[:200]}"]
    finally:
        loader.dispose()
    return data, [f"{source}:{d}" for d in loader.duplicates]


# --------------------------------------------------------------------------- policy: schema


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"must be a duration like 90s, 15m, 2h, 1d or 1h30m (got {_got(value)})")
    if isinstance(value, str) and len(value) > 40:  # no duration is that long; its digits could not even be read
        raise ValueError(f"{_got(value)} is not a duration: write it like 90s, 15m, 2h, 1d or 1h30m")
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0")
    return value


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    rx = re.compile(pattern)

    def check(value: str) -> str:
        if not rx.fullmatch(value):
            raise ValueError(f"{_got(value)} is not {what}")
        return value

    return check


_ROLE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_USER_ID = r"[UW][A-Z0-9]{2,}"
_GROUP_ID = r"S[A-Z0-9]{2,}"
_USER_ID_TEXT = "a Slack user ID (U… or W…)"
_PRINCIPAL_TEXT = "a Slack user ID (U…/W…) or user-group ID (S…)"

Duration = Annotated[timedelta, BeforeValidator(_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]
ApprovalCount = Annotated[StrictInt, Field(ge=1)]
UserId = Annotated[StrictStr, AfterValidator(_matching(_USER_ID, _USER_ID_TEXT))]
PrincipalId = Annotated[StrictStr, AfterValidator(_matching(f"{_USER_ID}|{_GROUP_ID}", _PRINCIPAL_TEXT))]
ChannelId = Annotated[
    StrictStr, AfterValidator(_matching(r"[CG][A-Z0-9]{2,}", "a Slack channel ID (C… or G…)"))
]
GroupUuid = Annotated[
    StrictStr,
    AfterValidator(
        _matching(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
            "a UUID (the Cloudflare Access group's id)",
        )
    ),
    AfterValidator(str.lower),
]
AccountId = Annotated[
    StrictStr,
    AfterValidator(_matching(r"[0-9a-f]{32}", "a Cloudflare account ID (32 lowercase hex characters)")),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Overridable(_Strict):
    """The keys of `defaults`, each of which a role may override; None = not given here."""

    min_duration: PositiveDuration | None = None
    default_duration: PositiveDuration | None = None
    max_duration: PositiveDuration | None = None
    approvals_required: ApprovalCount | None = None
    allow_self_approval: StrictBool | None = None
    warn_before: Duration | None = None
    request_timeout: PositiveDuration | None = None
    require_reason: StrictBool | None = None
    revoke_sessions: StrictBool | None = None


class _Defaults(_Overridable):
    pass


class _Role(_Overridable):
    description: StrictStr = ""
    group_id: GroupUuid
    account_id: AccountId | None = None
    approvers: list[PrincipalId] | None = None
    approval_channel: ChannelId | None = None
    requesters: list[PrincipalId] | None = None
    auto_approve: StrictBool = False


_BUILT_IN: dict[str, Any] = {
    "min_duration": timedelta(minutes=5),
    "default_duration": timedelta(hours=1),
    "max_duration": timedelta(hours=8),
    "approvals_required": 1,
    "allow_self_approval": False,
    "warn_before": timedelta(minutes=10),
    "request_timeout": timedelta(hours=24),
    "require_reason": True,
    "revoke_sessions": False,
}
_OVERRIDABLE = tuple(_Overridable.model_fields)
_TOP_LEVEL = ("defaults", "admins", "audit_channel", "roles")
_ADMINS = TypeAdapter(list[UserId] | None)
_AUDIT_CHANNEL = TypeAdapter(ChannelId | None)
_FIELD_ADAPTERS: dict[str, dict[str, TypeAdapter[Any]]] = {
    model.__name__: {name: TypeAdapter(field.annotation) for name, field in model.model_fields.items()}
    for model in (_Defaults, _Role)
}


def _salvage(model: type[BaseModel], raw: Any) -> dict[str, Any]:
    """The keys of `raw` that are valid on their own, validated (so cross-key checks still run
    on a section that has other problems)."""
    if not isinstance(raw, dict):
        return {}
    adapters = _FIELD_ADAPTERS[model.__name__]
    good: dict[str, Any] = {}
    for key, value in raw.items():
        adapter = adapters.get(key) if isinstance(key, str) else None
        if adapter is None:
            continue
        try:
            good[key] = adapter.validate_python(value)
        except ValidationError:
            continue
    return good


def _fmt(value: timedelta) -> str:
    return format_duration(value)


def _check_durations(prefix: str, effective: dict[str, Any], local: set[str]) -> list[str]:
    """min ≤ default ≤ max, each broken pair reported on a key set at this level (a pair made only of
    inherited values is reported where those were set)."""
    value = {k: effective[f"{k}_duration"] for k in ("min", "default", "max")}

    def broken(small: str, big: str) -> str | None:
        if value[small] <= value[big]:
            return None
        if f"{big}_duration" in local:
            return f"{prefix}.{big}_duration: must be ≥ {small}_duration ({_fmt(value[small])})"
        if f"{small}_duration" in local:
            return f"{prefix}.{small}_duration: must be ≤ {big}_duration ({_fmt(value[big])})"
        return None

    outer = broken("min", "max")
    if outer:
        return [outer]
    return [p for p in (broken("min", "default"), broken("default", "max")) if p]


def _validate(model: type[BaseModel], raw: Any, prefix: str, problems: list[str]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems(exc, prefix))
        return None


def _check_role(
    name: str,
    raw: Any,
    defaults: dict[str, Any],
    default_account_id: str | None,
    problems: list[str],
) -> Role | None:
    prefix = f"roles.{_key_text(name)}"
    if raw is None:
        problems.append(f"{prefix}: must be a mapping with at least group_id (got nothing)")
        return None
    model = _validate(_Role, raw, prefix, problems)
    good = _salvage(_Role, raw)
    given = {k: v for k, v in good.items() if k in _OVERRIDABLE and v is not None}
    effective = {**defaults, **given}
    problems.extend(_check_durations(prefix, effective, set(given)))

    if not isinstance(raw, dict):
        return None
    account_id = good.get("account_id") or default_account_id
    if "account_id" not in raw and not account_id:
        problems.append(f"{prefix}.account_id: missing (set it here or CLOUDFLARE_ACCOUNT_ID)")

    auto_known = "auto_approve" not in raw or "auto_approve" in good
    approvers_known = "approvers" not in raw or "approvers" in good
    if auto_known and approvers_known and not good.get("auto_approve", False):
        approvers = list(dict.fromkeys(good.get("approvers") or ()))
        if not approvers:
            state = "missing" if raw.get("approvers") is None else "empty"
            problems.append(
                f"{prefix}.approvers: {state} (a role needs approvers unless it has auto_approve: true)"
            )
        elif "approvals_required" in effective and not any(a.startswith("S") for a in approvers):
            needed = effective["approvals_required"]
            if needed > len(approvers):
                where = "" if "approvals_required" in given else " (from defaults)"
                listed = f"{len(approvers)} distinct approver{'s' if len(approvers) != 1 else ''}"
                problems.append(
                    f"{prefix}.approvals_required: {needed}{where} is more than the {listed} listed"
                )
    if model is None or not account_id:
        return None
    return Role(
        name=name,
        group_id=model.group_id,
        account_id=account_id,
        description=model.description.strip(),
        approvers=tuple(dict.fromkeys(model.approvers or ())),
        approval_channel=model.approval_channel,
        requesters=tuple(dict.fromkeys(model.requesters or ())),
        auto_approve=model.auto_approve,
        **effective,
    )


def parse_policy(text: str, source: str = "policy.yml", default_account_id: str | None = None) -> Policy:
    """Read policy YAML into the domain Policy; raise PolicyError listing every problem with its place.

    `source` names the file in YAML-level problems; `default_account_id` (CLOUDFLARE_ACCOUNT_ID) is
    the account of every role that names none.
    """
    data, problems = _load_yaml(text, source)
    if problems and data is None:
        raise PolicyError(problems, source)
    if data is None:
        raise PolicyError([f"{source}: the file is empty (it needs at least a roles: mapping)"], source)
    if not isinstance(data, dict):
        raise PolicyError(
            [
                f"{source}: the top level must be a mapping with the keys defaults, admins, "
                f"audit_channel and roles (got {type(data).__name__})"
            ],
            source,
        )

    for key in data:
        if key not in _TOP_LEVEL:
            problems.append(f"{_key_text(key)}: unknown key (the top level has only {', '.join(_TOP_LEVEL)})")

    raw_defaults = data.get("defaults")
    _validate(_Defaults, {} if raw_defaults is None else raw_defaults, "defaults", problems)
    given_defaults = {
        k: v for k, v in _salvage(_Defaults, raw_defaults).items() if k in _OVERRIDABLE and v is not None
    }
    defaults = {**_BUILT_IN, **given_defaults}
    problems.extend(_check_durations("defaults", defaults, set(given_defaults)))

    admins: list[str] = []
    try:
        admins = _ADMINS.validate_python(data.get("admins")) or []
    except ValidationError as exc:
        problems.extend(_problems(exc, "admins"))
    audit_channel = None
    try:
        audit_channel = _AUDIT_CHANNEL.validate_python(data.get("audit_channel"))
    except ValidationError as exc:
        problems.extend(_problems(exc, "audit_channel"))

    roles: dict[str, Role] = {}
    raw_roles = data.get("roles")
    if raw_roles is None or raw_roles == {}:
        problems.append("roles: no roles defined (a policy needs at least one role)")
    elif not isinstance(raw_roles, dict):
        problems.append(f"roles: must be a mapping of role name to role (got {type(raw_roles).__name__})")
    else:
        for name, raw in raw_roles.items():
            if not isinstance(name, str) or not _ROLE_NAME.fullmatch(name):
                problems.append(f"roles.{_key_text(name)}: a role name is [a-z0-9][a-z0-9_-]{{0,62}}")
            role = _check_role(str(name), raw, defaults, default_account_id, problems)
            if role is not None:
                roles[role.name] = role

    if problems:
        raise PolicyError(problems, source)
    return Policy(roles=roles, admins=tuple(dict.fromkeys(admins)), audit_channel=audit_channel)


def load_policy(path: str | Path, default_account_id: str | None = None) -> Policy:
    """Read and validate the policy file at `path`; raise PolicyError listing every problem."""
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)  # never more: the file may be huge, or /dev/zero
        if len(raw) > MAX_POLICY_BYTES:
            raise PolicyError(
                [f"{source}: larger than {MAX_POLICY_BYTES // 1024} KiB (a policy file is a few KiB)"], source)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise PolicyError([f"ACCESSBOT_POLICY: no such file: {source}"], source) from None
    except UnicodeDecodeError:
        raise PolicyError([f"{source}: not UTF-8 text"], source) from None
    except OSError as exc:
        raise PolicyError(
            [f"ACCESSBOT_POLICY: cannot read {source}: {exc.strerror or exc}"], source
        ) from None
    return parse_policy(text, source=source, default_account_id=default_account_id)
