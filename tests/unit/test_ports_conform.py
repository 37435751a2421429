"""The SQL repositories and the in-memory fakes implement every repository port, method by method."""

from __future__ import annotations

import inspect

import pytest

from bot.domain import repositories as ports
from bot.domain.unit_of_work import UnitOfWork
from bot.storage.checkpoints import SqlCheckpoints
from bot.storage.repos.audit import SqlAuditLog
from bot.storage.repos.grants import SqlGrants
from bot.storage.repos.members import SqlMembers
from bot.storage.repos.outbox import SqlOutbox
from bot.storage.repos.requests import SqlRequests
from bot.storage.repos.slack_state import SqlDeliveries, SqlSlackState
from bot.storage.store import Tx
from tests.fake_outbox import FakeMembers, FakeOutbox
from tests.fake_repos import FakeGrants, FakeRequests
from tests.fakes_uow import FakeAuditLog, FakeCheckpoints, FakeDeliveries, FakeSlackState, FakeUnitOfWork

PAIRS = [
    (ports.Requests, SqlRequests, FakeRequests), (ports.Grants, SqlGrants, FakeGrants),
    (ports.Members, SqlMembers, FakeMembers), (ports.Outbox, SqlOutbox, FakeOutbox),
    (ports.AuditLog, SqlAuditLog, FakeAuditLog), (ports.Checkpoints, SqlCheckpoints, FakeCheckpoints),
    (ports.SlackState, SqlSlackState, FakeSlackState), (ports.Deliveries, SqlDeliveries, FakeDeliveries),
]


def _methods(cls: type) -> dict[str, inspect.Signature]:
    """The public methods a class defines (its own and inherited, not object's), by name."""
    return {name: inspect.signature(fn) for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")}


def _parameters(sig: inspect.Signature) -> list[str]:
    """Parameter names and kinds, without annotations or defaults (a fake may take **filters)."""
    return [f"{p.name}:{p.kind.name}" for p in sig.parameters.values()]


@pytest.mark.parametrize(("port", "sql", "fake"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_the_sql_repository_has_every_method_of_its_port_with_the_same_parameters(
        port: type, sql: type, fake: type) -> None:
    wanted, have = _methods(port), _methods(sql)
    assert set(wanted) <= set(have)
    assert {n: _parameters(wanted[n]) for n in wanted} == {n: _parameters(have[n]) for n in wanted}


@pytest.mark.parametrize(("port", "sql", "fake"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_the_fake_repository_has_every_method_of_its_port(port: type, sql: type, fake: type) -> None:
    assert set(_methods(port)) <= set(_methods(fake))
    wanted = dict(inspect.getmembers(port, inspect.isfunction))
    for name, fn in inspect.getmembers(fake, inspect.isfunction):
        if name in _methods(port):
            # an `async def` of the port is a coroutine; a method the port declares returning an AsyncIterator
            # (AuditLog.stream) is an async generator
            streams = not inspect.iscoroutinefunction(wanted[name])
            assert (inspect.isasyncgenfunction(fn) if streams else inspect.iscoroutinefunction(fn)), name


def test_both_units_of_work_carry_every_repository_and_the_unit_of_work_methods() -> None:
    repos = set(UnitOfWork.__annotations__)
    assert repos == {"requests", "grants", "members", "outbox", "audit", "checkpoints", "slack", "deliveries"}
    for impl in (Tx, FakeUnitOfWork):
        assert {"lock_person", "next_due", "enqueued", "audited"} <= set(dir(impl))
        assert all(f"self.{name} = " in inspect.getsource(impl.__init__) for name in repos), impl
