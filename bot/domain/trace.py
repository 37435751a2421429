"""Log-context hook: use cases name the request and grant they work on; the logging adapter listens."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# Set by the logging adapter (bot.logging_setup) at import; until then binding is a no-op.
_binder: list[Callable[..., None]] = []


def set_binder(binder: Callable[..., None]) -> None:
    """Make `binder(**fields)` the function that puts fields on the current task's log lines."""
    _binder[:] = [binder]


def bind(**values: Any) -> None:
    """Put these fields (None values left out by the binder) on every later log line of the current task."""
    for binder in _binder:
        binder(**values)


def grant_fields(pairs: Iterable[tuple[str | None, str]]) -> dict[str, Any]:
    """The log fields for the (request_id, grant_id) pairs being worked on: `request_id`/`grant_id` for one
    grant, `request_ids`/`grant_ids` lists for several (one Cloudflare write may settle many)."""
    pairs = list(pairs)
    if len(pairs) == 1:
        return {"request_id": pairs[0][0], "grant_id": pairs[0][1]}
    if pairs:
        return {"request_ids": sorted({r for r, _ in pairs if r}), "grant_ids": sorted(g for _, g in pairs)}
    return {}


def bind_grants(pairs: Iterable[tuple[str | None, str]]) -> None:
    """Bind the (request_id, grant_id) pairs being worked on (see `grant_fields`)."""
    fields = grant_fields(pairs)
    if fields:
        bind(**fields)
