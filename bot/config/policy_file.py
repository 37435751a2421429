"""The policy file: read, validated and turned into the domain's `Policy`, every problem reported with its place.

`load_policy()` / `parse_policy()` read the YAML policy file into the domain's `Policy`; every problem in the
file is reported at once, each as `place: message` (`roles.prod-db.max_duration: must be ≥ min_duration (8h)`),
in a `PolicyError`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from bot.config.errors import PolicyError
from bot.config.policy_schema import (
    ADMINS,
    AUDIT_CHANNEL,
    AUDIT_CHANNEL_EVENTS,
    BUILT_IN,
    OVERRIDABLE,
    ROLE_NAME,
    TOP_LEVEL,
    DefaultsModel,
    OnCallModel,
    RoleModel,
    salvage,
)
from bot.config.policy_yaml import MAX_POLICY_BYTES, load_yaml
from bot.config.problems import key_text, validation_problems
from bot.domain.durations import format_duration
from bot.domain.policy import OnCallRule, Policy, Role

__all__ = ["load_policy", "parse_policy"]


def _check_durations(prefix: str, effective: dict[str, Any], local: set[str]) -> list[str]:
    """min ≤ default ≤ max, each broken pair reported on a key set at this level (a pair made only of
    inherited values is reported where those were set)."""
    value = {k: effective[f"{k}_duration"] for k in ("min", "default", "max")}

    def broken(small: str, big: str) -> str | None:
        """The problem line when `small` is longer than `big`, placed on the key set at this level; else None."""
        if value[small] <= value[big]:
            return None
        if f"{big}_duration" in local:
            return f"{prefix}.{big}_duration: must be ≥ {small}_duration ({format_duration(value[small])})"
        if f"{small}_duration" in local:
            return f"{prefix}.{small}_duration: must be ≤ {big}_duration ({format_duration(value[big])})"
        return None

    outer = broken("min", "max")
    if outer:
        return [outer]
    return [p for p in (broken("min", "default"), broken("default", "max")) if p]


def _validate(model: type[BaseModel], raw: Any, prefix: str, problems: list[str]) -> Any:
    """`raw` validated as `model`, or None with its problems (placed under `prefix`) added to `problems`."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, prefix))
        return None


def _approver_problems(prefix: str, raw: dict[Any, Any], good: dict[str, Any], effective: dict[str, Any],
                       given: dict[str, Any]) -> list[str]:
    """A role without approvers (unless auto-approved), or needing more approvals than it lists approvers."""
    auto_known = "auto_approve" not in raw or "auto_approve" in good
    approvers_known = "approvers" not in raw or "approvers" in good
    if not (auto_known and approvers_known) or good.get("auto_approve", False):
        return []
    approvers = list(dict.fromkeys(good.get("approvers") or ()))
    if not approvers:
        state = "missing" if raw.get("approvers") is None else "empty"
        return [f"{prefix}.approvers: {state} (a role needs approvers unless it has auto_approve: true)"]
    if "approvals_required" not in effective or any(a.startswith("S") for a in approvers):
        return []
    needed = effective["approvals_required"]
    if needed <= len(approvers):
        return []
    where = "" if "approvals_required" in given else " (from defaults)"
    listed = f"{len(approvers)} distinct approver{'s' if len(approvers) != 1 else ''}"
    return [f"{prefix}.approvals_required: {needed}{where} is more than the {listed} listed"]


def _escalation_problems(prefix: str, effective: dict[str, Any]) -> list[str]:
    """`escalate_after` without anyone to escalate to, or `escalate_to` with no time to do it."""
    after, to = effective.get("escalate_after"), effective.get("escalate_to")
    if after and after > timedelta(0) and not to:
        return [f"{prefix}.escalate_to: missing (escalate_after needs the user or user-group IDs to escalate to)"]
    if to and not (after and after > timedelta(0)):
        return [f"{prefix}.escalate_after: missing (escalate_to needs the time after which to escalate, e.g. 30m)"]
    return []


def _target_problems(prefix: str, raw: dict[Any, Any]) -> list[str]:
    """A role names exactly one of group_id (the bot edits the group) and list_id (the bot edits a list)."""
    has_group, has_list = raw.get("group_id") is not None, raw.get("list_id") is not None
    if has_group and has_list:
        return [f"{prefix}: give group_id or list_id, not both (group_id: the bot edits the Access group's own "
                f"rules; list_id: the bot edits a Zero Trust EMAIL list the group includes)"]
    if not has_group and not has_list:
        return [f"{prefix}.group_id: missing (the Access group's id; or list_id, a Zero Trust EMAIL list's id)"]
    return []


def _check_role(
    name: str,
    raw: Any,
    defaults: dict[str, Any],
    default_account_id: str | None,
    problems: list[str],
) -> Role | None:
    """One role with the defaults applied, or None; every problem it has is added to `problems`."""
    prefix = f"roles.{key_text(name)}"
    if raw is None:
        problems.append(f"{prefix}: must be a mapping with at least group_id or list_id (got nothing)")
        return None
    if isinstance(raw, dict):
        problems.extend(_target_problems(prefix, raw))
    model = _validate(RoleModel, raw, prefix, problems)
    good = salvage(RoleModel, raw)
    given = {k: v for k, v in good.items() if k in OVERRIDABLE and v is not None}
    effective = {**defaults, **given}
    problems.extend(_check_durations(prefix, effective, set(given)))

    if not isinstance(raw, dict):
        return None
    account_id = good.get("account_id") or default_account_id
    if "account_id" not in raw and not account_id:
        problems.append(f"{prefix}.account_id: missing (set it here or CLOUDFLARE_ACCOUNT_ID)")
    problems.extend(_approver_problems(prefix, raw, good, effective, given))
    problems.extend(_escalation_problems(prefix, effective))
    if model is None or not account_id or (model.group_id is None) == (model.list_id is None):
        return None
    return Role(
        name=name,
        group_id=model.group_id or "",
        list_id=model.list_id,
        account_id=account_id,
        description=model.description.strip(),
        approvers=tuple(dict.fromkeys(model.approvers or ())),
        approval_channel=model.approval_channel,
        requesters=tuple(dict.fromkeys(model.requesters or ())),
        auto_approve=model.auto_approve,
        break_glass=model.break_glass,
        oncall=_oncall(model.oncall),
        **{**effective, "escalate_to": tuple(dict.fromkeys(effective.get("escalate_to") or ()))},
    )


def _oncall(model: OnCallModel | None) -> OnCallRule | None:
    """The role's `oncall` key as the domain's rule (schedule IDs once each, in the order written)."""
    if model is None:
        return None
    return OnCallRule(model.provider, tuple(dict.fromkeys(model.schedule_ids)), model.auto_approve)


def _read_document(text: str, source: str) -> tuple[dict[Any, Any], list[str]]:
    """The YAML's top-level mapping and the problems found reading it; PolicyError when there is no mapping."""
    data, problems = load_yaml(text, source)
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
        if key not in TOP_LEVEL:
            problems.append(f"{key_text(key)}: unknown key (the top level has only {', '.join(TOP_LEVEL)})")
    return data, problems


def _read_defaults(raw_defaults: Any, problems: list[str]) -> dict[str, Any]:
    """The built-in role defaults overridden by the valid keys of `defaults:`; its problems go to `problems`."""
    _validate(DefaultsModel, {} if raw_defaults is None else raw_defaults, "defaults", problems)
    given_defaults = {
        k: v for k, v in salvage(DefaultsModel, raw_defaults).items() if k in OVERRIDABLE and v is not None
    }
    defaults = {**BUILT_IN, **given_defaults}
    problems.extend(_check_durations("defaults", defaults, set(given_defaults)))
    return defaults


def _read_top(adapter: TypeAdapter[Any], value: Any, place: str, problems: list[str]) -> Any:
    """A top-level value validated by `adapter`, or None with its problems added to `problems`."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, place))
        return None


def _read_roles(raw_roles: Any, defaults: dict[str, Any], default_account_id: str | None,
                problems: list[str]) -> dict[str, Role]:
    """The valid roles of `roles:` by name; the problems of every role go to `problems`."""
    roles: dict[str, Role] = {}
    if raw_roles is None or raw_roles == {}:
        problems.append("roles: no roles defined (a policy needs at least one role)")
    elif not isinstance(raw_roles, dict):
        problems.append(f"roles: must be a mapping of role name to role (got {type(raw_roles).__name__})")
    else:
        for name, raw in raw_roles.items():
            if not isinstance(name, str) or not ROLE_NAME.fullmatch(name):
                problems.append(f"roles.{key_text(name)}: a role name is [a-z0-9][a-z0-9_-]{{0,62}}")
            role = _check_role(str(name), raw, defaults, default_account_id, problems)
            if role is not None:
                roles[role.name] = role
    return roles


def parse_policy(text: str, source: str = "policy.yml", default_account_id: str | None = None) -> Policy:
    """Read policy YAML into the domain Policy; raise PolicyError listing every problem with its place.

    `source` names the file in YAML-level problems; `default_account_id` (CLOUDFLARE_ACCOUNT_ID) is
    the account of every role that names none.
    """
    data, problems = _read_document(text, source)
    defaults = _read_defaults(data.get("defaults"), problems)
    admins = _read_top(ADMINS, data.get("admins"), "admins", problems) or []
    audit_channel = _read_top(AUDIT_CHANNEL, data.get("audit_channel"), "audit_channel", problems)
    loudness = _read_top(AUDIT_CHANNEL_EVENTS, data.get("audit_channel_events"), "audit_channel_events", problems)
    roles = _read_roles(data.get("roles"), defaults, default_account_id, problems)
    if problems:
        raise PolicyError(problems, source)
    return Policy(roles=roles, admins=tuple(dict.fromkeys(admins)), audit_channel=audit_channel,
                  audit_channel_events=loudness or "all")


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
