"""The pydantic models and field types of the policy file, and the built-in role defaults (from the domain's Role)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from bot.config.problems import got
from bot.domain.durations import DurationError, parse_duration
from bot.domain.policy import Role


def _duration(value: Any) -> timedelta:
    """A duration as written (`90s`, `1h30m`, or seconds as an integer), or ValueError saying how to write one."""
    if isinstance(value, timedelta):
        return value
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"must be a duration like 90s, 15m, 2h, 1d or 1h30m (got {got(value)})")
    if isinstance(value, str) and len(value) > 40:  # no duration is that long; its digits could not even be read
        raise ValueError(f"{got(value)} is not a duration: write it like 90s, 15m, 2h, 1d or 1h30m")
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


def _positive(value: timedelta) -> timedelta:
    """The duration, if it is longer than 0."""
    if value <= timedelta(0):
        raise ValueError("must be longer than 0")
    return value


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    """A check that a text matches `pattern` whole; its ValueError says the text is not `what`."""
    rx = re.compile(pattern)

    def check(value: str) -> str:
        """The value, if it matches the pattern whole."""
        if not rx.fullmatch(value):
            raise ValueError(f"{got(value)} is not {what}")
        return value

    return check


ROLE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
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
ListUuid = Annotated[
    StrictStr,
    AfterValidator(
        _matching(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
            "a UUID (the Zero Trust list's id, from Gateway → Lists or GET /accounts/{a}/gateway/lists)",
        )
    ),
    AfterValidator(str.lower),
]
AccountId = Annotated[
    StrictStr,
    AfterValidator(_matching(r"[0-9a-f]{32}", "a Cloudflare account ID (32 lowercase hex characters)")),
]


class _Strict(BaseModel):
    """A frozen model that refuses unknown keys."""

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
    max_schedule_ahead: PositiveDuration | None = None
    # incident-time workflow (issue 11)
    remind_after: Duration | None = None
    reminders: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    escalate_after: Duration | None = None
    escalate_to: tuple[PrincipalId, ...] | None = None
    break_glass_max_duration: PositiveDuration | None = None


# ---- on-call approval (the role's `oncall` key) ----
PagerDutyId = Annotated[
    StrictStr,
    AfterValidator(_matching(r"[A-Z0-9]{2,20}",
                             "a PagerDuty schedule ID (capital letters and digits, e.g. PI7DH85, from the "
                             "schedule's URL)")),
]


def _schedule_count(value: list[str]) -> list[str]:
    """The schedule IDs, if there are 1 to 20 of them."""
    if not value:
        raise ValueError("empty: name at least one PagerDuty schedule ID (e.g. [PI7DH85])")
    if len(value) > 20:
        raise ValueError(f"{len(value)} schedules; at most 20 (one GET /oncalls asks about all of them)")
    return value


class OnCallModel(_Strict):
    """A role's `oncall:` mapping: whose being on call in these PagerDuty schedules decides the role's requests."""

    provider: Literal["pagerduty"]
    schedule_ids: Annotated[list[PagerDutyId], AfterValidator(_schedule_count)]
    auto_approve: StrictBool = False


class DefaultsModel(_Overridable):
    """The `defaults:` section."""


class RoleModel(_Overridable):
    """One role under `roles:`, as written (before defaults are applied)."""

    description: StrictStr = ""
    group_id: GroupUuid | None = None
    list_id: ListUuid | None = None
    account_id: AccountId | None = None
    approvers: list[PrincipalId] | None = None
    approval_channel: ChannelId | None = None
    requesters: list[PrincipalId] | None = None
    auto_approve: StrictBool = False
    break_glass: StrictBool = False
    oncall: OnCallModel | None = None


OVERRIDABLE = tuple(_Overridable.model_fields)
# The built-in value of each key `defaults` and a role may set: the domain Role's own defaults, written once there.
BUILT_IN: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Role) if f.name in OVERRIDABLE}
TOP_LEVEL = ("defaults", "admins", "audit_channel", "audit_channel_events", "roles")
ADMINS = TypeAdapter(list[UserId] | None)
AUDIT_CHANNEL = TypeAdapter(ChannelId | None)
AUDIT_CHANNEL_EVENTS = TypeAdapter(Literal["all", "decisions", "alerts"] | None)
_FIELD_ADAPTERS: dict[str, dict[str, TypeAdapter[Any]]] = {
    model.__name__: {name: TypeAdapter(field.annotation) for name, field in model.model_fields.items()}
    for model in (DefaultsModel, RoleModel)
}


def salvage(model: type[BaseModel], raw: Any) -> dict[str, Any]:
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

