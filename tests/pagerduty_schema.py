"""PagerDuty's OpenAPI subset (tests/reference/pagerduty/rest-oncalls-subset.json) as request and response checks.

The file is PagerDuty/api-schema `reference/REST/openapiv3.json`, cut down to GET /oncalls, GET /users and
GET /schedules/{id} (see its `info.x-extracted`); copied from the project's shared reference folder.
`request_problems` checks a request's query parameters (names, types, enums) and its headers (the required
ones, the `Token token=…` API key); `response_problems` checks a body against the answer's schema. OpenAPI
3.0's `nullable` becomes JSON Schema's `[type, "null"]`. One documented difference from the schema's letter:
with `include[]=users` PagerDuty expands each entry's `user` reference into the User object (its "Includes"
concept), so such a `user` is checked against the schema's own `User`.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

SCHEMA = Path(__file__).parent / "reference" / "pagerduty" / "rest-oncalls-subset.json"


@functools.cache
def document() -> dict[str, Any]:
    """The schema, with `nullable` rewritten for JSON Schema."""
    return _nullable(json.loads(SCHEMA.read_text()))


def _nullable(node: Any) -> Any:
    """`{"type": t, "nullable": true}` → `{"type": [t, "null"]}`, everywhere."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True and isinstance(node.get("type"), str):
        out["type"] = [node["type"], "null"]
    return out


def _resolve(ref: str) -> Any:
    """A `#/components/...` reference's target."""
    node: Any = document()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _parameters(path: str) -> list[dict[str, Any]]:
    """The GET operation's parameters, references resolved."""
    return [_resolve(p["$ref"]) if "$ref" in p else p for p in document()["paths"][path]["get"]["parameters"]]


def _validator(schema: dict[str, Any]) -> Draft4Validator:
    """A validator of `schema` in which the document's `#/components/...` references resolve."""
    return Draft4Validator({"allOf": [schema], "components": document()["components"]})


def _value(raw: str, schema: dict[str, Any]) -> Any:
    """A query value as the parameter's type: integers and booleans are parsed, strings stay."""
    kind = schema.get("type")
    if kind == "integer":
        return int(raw) if raw.lstrip("-").isdigit() else raw
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    return raw


def request_problems(path: str, query: list[tuple[str, str]], headers: dict[str, str]) -> list[str]:
    """Why PagerDuty's schema refuses this GET (unknown or ill-typed parameters, missing headers); [] if none."""
    params = {p["name"]: p for p in _parameters(path)}
    problems = []
    for name, raw in query:
        param = params.get(name)
        if param is None or param["in"] != "query":
            problems.append(f"query {name!r} is not a parameter of GET {path}")
            continue
        schema = param["schema"]
        item = schema.get("items", schema) if schema.get("type") == "array" else schema
        problems += [f"query {name}={raw!r}: {e.message}" for e in _validator(item).iter_errors(_value(raw, item))]
    lower = {k.lower(): v for k, v in headers.items()}
    for p in params.values():
        if p["in"] == "header" and p.get("required") and p["name"].lower() not in lower:
            problems.append(f"header {p['name']} is required")
    scheme = document()["components"]["securitySchemes"]["api_key"]
    if not lower.get(scheme["name"].lower(), "").startswith("Token token="):
        problems.append("Authorization must be `Token token=<API_KEY>`")
    return problems


def response_problems(path: str, status: int, body: Any, *, include_users: bool = False) -> list[str]:
    """Why the schema's answer for (GET path, status) refuses `body`; [] when it accepts it."""
    answers = document()["paths"][path]["get"]["responses"]
    # a 5xx is not listed per operation: PagerDuty answers it with its generic error body
    answer = answers[str(status)] if str(status) in answers or status < 500 else answers["401"]
    if "$ref" in answer:
        answer = _resolve(answer["$ref"])
    schema = answer["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = _resolve(schema["$ref"])
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
                for e in _validator(schema).iter_errors(_references_only(body) if include_users else body)]
    if include_users and isinstance(body, dict):
        user = _validator({"$ref": "#/components/schemas/User"})
        for i, entry in enumerate(body.get("oncalls") or []):
            problems += [f"oncalls/{i}/user: {e.message}" for e in user.iter_errors(entry.get("user"))]
    return problems


def _references_only(body: Any) -> Any:
    """The body with each expanded `user` turned back into the reference the schema describes."""
    out = copy.deepcopy(body)
    for entry in out.get("oncalls") or [] if isinstance(out, dict) else []:
        user = entry.get("user")
        if isinstance(user, dict) and user.get("type") == "user":
            entry["user"] = {k: user[k] for k in ("id", "summary", "self", "html_url") if k in user}
            entry["user"]["type"] = "user_reference"
    return out
