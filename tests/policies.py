"""Policy text for the tests: one builder (`policy_text`), and `policy_with` to add roles to a policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ACCOUNT = "1234567890abcdef1234567890abcdef"


def _yaml_value(value: Any) -> str:
    """One scalar or flow list in the policy's YAML spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    return str(value)


def _block(fields: Mapping[str, Any], indent: str) -> str:
    """`key: value` lines at `indent`, in the mapping's order."""
    return "".join(f"{indent}{key}: {_yaml_value(value)}\n" for key, value in fields.items())


def role(group_id: str, account_id: str = ACCOUNT, **fields: Any) -> dict[str, Any]:
    """A role's fields: its group and account first, then the rest in the order given."""
    return {"group_id": group_id, "account_id": account_id, **fields}


def policy_text(roles: Mapping[str, Mapping[str, Any]], *, defaults: Mapping[str, Any] | None = None,
                admins: Iterable[str] = ("U0ADMIN1",), audit_channel: str | None = None) -> str:
    """Policy YAML: `defaults`, `admins`, the audit channel when given, then `roles` last (so `policy_with` and
    plain concatenation can add more), each role's fields at four spaces in the order given."""
    text = "\n"
    if defaults:
        text += "defaults:\n" + _block(defaults, "  ")
    text += f"admins: {_yaml_value(list(admins))}\n"
    if audit_channel:
        text += f"audit_channel: {audit_channel}\n"
    text += "roles:\n" + "".join(f"  {name}:\n" + _block(fields, "    ") for name, fields in roles.items())
    return text


def policy_with(extra_roles: str, base: str) -> str:
    """`base` plus more roles (YAML written at the indentation of a role name: two spaces)."""
    lines = [("  " + line if line.strip() else line) for line in extra_roles.strip("\n").splitlines()]
    return base.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


def list_role(list_id: str, account_id: str = ACCOUNT, **fields: Any) -> dict[str, Any]:
    """A list role's fields: its Zero Trust EMAIL list and account first, then the rest in the order given."""
    return {"list_id": list_id, "account_id": account_id, **fields}
