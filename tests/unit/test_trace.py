"""The log-context hook: use cases bind ids through bot.domain.trace; the logging adapter puts them on lines."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain import trace


def test_grant_fields_name_one_grant_singly_and_several_as_sorted_lists() -> None:
    assert trace.grant_fields([("r-1", "g-1")]) == {"request_id": "r-1", "grant_id": "g-1"}
    assert trace.grant_fields([("r-2", "g-2"), (None, "g-1"), ("r-2", "g-3")]) == {
        "request_ids": ["r-2"], "grant_ids": ["g-1", "g-2", "g-3"]}
    assert trace.grant_fields([]) == {}


def test_binding_goes_to_the_binder_set_and_nothing_is_bound_for_no_grants(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(trace, "_binder", [])
    trace.bind(request_id="r-0")  # no binder yet: nothing happens
    trace.set_binder(lambda **fields: seen.append(fields))
    trace.bind_grants([("r-1", "g-1")])
    trace.bind_grants([])
    assert seen == [{"request_id": "r-1", "grant_id": "g-1"}]


def test_the_logging_adapter_binds_what_the_use_cases_name() -> None:
    from bot import logging_setup

    with logging_setup.scope():
        trace.bind_grants([("r-9", "g-9")])
        assert logging_setup.context()["grant_id"] == "g-9"
    assert "grant_id" not in logging_setup.context()
