"""Cloudflare's OpenAPI request-body schemas: the check the Cloudflare simulator applies, shared with the tests.

`request_body_errors(method, path, body)` says why Cloudflare's schema (``cloudflare_openapi_subset.json``, a
verbatim subset of github.com/cloudflare/api-schemas) refuses a request body, one readable line per problem;
an empty list when it accepts it. `path` is the OpenAPI path, e.g. `GROUP_PATH`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).with_name("cloudflare_openapi_subset.json")
GROUP_PATH = "/accounts/{account_id}/access/groups/{group_id}"
GROUPS_PATH = "/accounts/{account_id}/access/groups"
REVOKE_PATH = "/accounts/{account_id}/access/organizations/revoke_user"

Validators = dict[tuple[str, str], Draft4Validator]

__all__ = ["GROUP_PATH", "GROUPS_PATH", "REVOKE_PATH", "SCHEMA_PATH", "body_errors", "load_validators",
           "request_body_errors"]


def load_validators(schema_path: Path | None = None) -> Validators:
    """A validator per (method, OpenAPI path) with a JSON requestBody, from the schema file (ours by default)."""
    return _request_validators(json.loads((schema_path or SCHEMA_PATH).read_text()))


@functools.cache
def _default_validators() -> Validators:
    """The validators of the schema file shipped with the simulator, read once."""
    return load_validators()


def body_errors(validators: Validators, method: str, path: str, body: Any) -> list[str]:
    """Why the requestBody schema of (method, path) refuses `body`, one line per problem, in body order."""
    validator = validators[(method.lower(), path)]
    return [_describe(e) for e in sorted(validator.iter_errors(body), key=lambda e: list(e.path))]


def request_body_errors(method: str, path: str, body: Any) -> list[str]:
    """Why Cloudflare's own schema refuses `body` as the request body of `method path`; empty when it accepts it."""
    return body_errors(_default_validators(), method, path, body)


def _request_validators(document: dict[str, Any]) -> dict[tuple[str, str], Draft4Validator]:
    """A validator per (method, path) with a JSON requestBody; `#/components/...` refs resolve in it."""
    validators = {}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            content = (
                (operation.get("requestBody") or {}).get("content", {}) if isinstance(operation, dict) else {}
            )
            schema = content.get("application/json", {}).get("schema")
            if schema is None:
                continue
            # OpenAPI 3.0 schemas are (nearly) JSON Schema draft 4; embedding `components` makes the
            # document's own `#/components/schemas/...` references resolve against it.
            root = {"allOf": [schema], "components": document.get("components", {})}
            validators[(method, path)] = Draft4Validator(root, format_checker=Draft4Validator.FORMAT_CHECKER)
    return validators


def _describe(error: ValidationError) -> str:
    """One readable line: where in the body, and what is wrong (for a rule: what is wrong with it)."""
    message = error.message
    if error.validator == "oneOf" and error.context:
        # A rule that matches no rule kind. If it names a kind but gets its inside wrong (e.g.
        # {"email": "x"}), the error from inside that kind says most; otherwise list the kinds.
        inner = sorted((e for e in error.context if e.relative_path), key=lambda e: list(e.relative_path))
        if inner:
            error = inner[0]
            message = error.message
        else:
            kinds = [
                e.validator_value[0] for e in error.context if e.validator == "required" and e.validator_value
            ]
            message = f"{error.instance!r} is not a rule Cloudflare knows (one of: {', '.join(kinds)})"
    elif error.validator == "oneOf":
        message = f"{error.instance!r} is more than one kind of rule at once"
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return f"{where}: {message}"
