"""The PagerDuty client against the PagerDuty simulator, every exchange checked against PagerDuty's own schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.domain.errors import PermanentError, TransientError
from bot.domain.ports import OnCallPerson
from bot.pagerduty.client import PagerDutyClient
from bot.simulators.pagerduty_sim import PagerDutySimulator
from tests.pagerduty_schema import request_problems, response_problems

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def pd() -> AsyncIterator[PagerDutySimulator]:
    """A running simulator; at the end every request it saw and every answer it gave must fit the schema."""
    sim = PagerDutySimulator(token="pd-test")
    sim.add_user("PALICE1", "Alice@Example.com", "Alice")
    sim.add_user("PBOB001", "bob@example.com", "Bob")
    await sim.start()
    yield sim
    await sim.stop()
    for ex in sim.traffic:
        assert request_problems(ex.path, ex.query, ex.headers) == [], ex
        assert response_problems(ex.path, ex.status, ex.body,
                                 include_users=("include[]", "users") in ex.query) == [], ex


def client(sim: PagerDutySimulator, token: str = "pd-test", **kw: float) -> PagerDutyClient:
    """A client of the simulator."""
    assert sim.base_url
    return PagerDutyClient(sim.base_url, token, **kw)


async def test_the_person_on_call_in_a_named_schedule_is_found_by_email_in_any_case(pd: PagerDutySimulator) -> None:
    pd.set_on_call("PSCHED1", ["PALICE1"])
    pd.set_on_call("POTHER1", ["PBOB001"])
    c = client(pd)
    try:
        found = await c.is_on_call("alice@example.COM", ("PSCHED1",))
        assert found == OnCallPerson("Alice@Example.com", "Alice", "PALICE1", "PSCHED1")
        assert await c.is_on_call("bob@example.com", ("PSCHED1",)) is None  # on call, but elsewhere
    finally:
        await c.aclose()
    sent = pd.traffic[0].query
    assert ("schedule_ids[]", "PSCHED1") in sent and ("earliest", "true") in sent and ("include[]", "users") in sent
    assert pd.traffic[0].headers["Authorization"] == "Token token=pd-test"


async def test_every_page_is_read_until_more_is_false(pd: PagerDutySimulator) -> None:
    people = [f"PU{i:05d}" for i in range(230)]
    for uid in people:
        pd.add_user(uid, f"{uid.lower()}@example.com", uid)
    pd.set_on_call("PSCHED1", people)
    c = client(pd)
    try:
        everyone = await c.on_call_now(("PSCHED1",))
        last = await c.is_on_call("pu00229@example.com", ("PSCHED1",))
    finally:
        await c.aclose()
    assert [p.user_id for p in everyone] == people
    assert last is not None and last.user_id == "PU00229"
    offsets = [dict(ex.query)["offset"] for ex in pd.traffic[:3]]
    assert offsets == ["0", "100", "200"] and [ex.body["more"] for ex in pd.traffic[:3]] == [True, True, False]


async def test_a_wrong_token_is_a_permanent_error_with_pagerdutys_code(pd: PagerDutySimulator) -> None:
    pd.set_on_call("PSCHED1", ["PALICE1"])
    c = client(pd, token="wrong")
    try:
        with pytest.raises(PermanentError) as err:
            await c.is_on_call("alice@example.com", ("PSCHED1",))
    finally:
        await c.aclose()
    assert err.value.status == 401 and err.value.errors[0]["code"] == 2006
    assert "wrong" not in str(err.value)


async def test_a_429_with_a_short_retry_after_is_waited_out_once(pd: PagerDutySimulator) -> None:
    pd.set_on_call("PSCHED1", ["PALICE1"])
    pd.fail_next(429, retry_after="0")
    c = client(pd)
    try:
        assert await c.is_on_call("alice@example.com", ("PSCHED1",)) is not None
    finally:
        await c.aclose()
    assert [ex.status for ex in pd.traffic] == [429, 200]


async def test_a_429_with_a_long_retry_after_is_a_transient_error_carrying_it(pd: PagerDutySimulator) -> None:
    pd.fail_next(429, retry_after="30")
    c = client(pd, max_wait=2.0)
    try:
        with pytest.raises(TransientError) as err:
            await c.on_call_now(("PSCHED1",))
    finally:
        await c.aclose()
    assert err.value.status == 429 and err.value.retry_after == 30.0 and len(pd.traffic) == 1


async def test_two_429s_in_a_row_give_up_after_the_second(pd: PagerDutySimulator) -> None:
    pd.fail_next(429, times=2, retry_after="0")
    c = client(pd)
    try:
        with pytest.raises(TransientError):
            await c.on_call_now(("PSCHED1",))
    finally:
        await c.aclose()
    assert len(pd.traffic) == 2


async def test_a_server_error_is_transient(pd: PagerDutySimulator) -> None:
    pd.fail_next(500)
    c = client(pd)
    try:
        with pytest.raises(TransientError) as err:
            await c.on_call_now(("PSCHED1",))
    finally:
        await c.aclose()
    assert err.value.status == 500


async def test_a_slow_pagerduty_is_a_transient_timeout(pd: PagerDutySimulator) -> None:
    pd.delay = 1.0
    c = client(pd, timeout=0.2)
    try:
        with pytest.raises(TransientError, match="in time"):
            await c.on_call_now(("PSCHED1",))
    finally:
        await c.aclose()


async def test_an_unreachable_pagerduty_is_transient() -> None:
    c = PagerDutyClient("http://127.0.0.1:9", "t", timeout=1.0)
    try:
        with pytest.raises(TransientError, match="unreachable"):
            await c.on_call_now(("PSCHED1",))
    finally:
        await c.aclose()


async def test_the_schema_check_catches_a_parameter_pagerduty_does_not_take() -> None:
    assert request_problems("/oncalls", [("schedule_id", "P1")], {"Accept": "x", "Content-Type": "application/json",
                                                                   "Authorization": "Token token=t"}) != []
    assert request_problems("/oncalls", [("limit", "many")], {}) != []
    assert response_problems("/oncalls", 200, {"oncalls": [{"user": {"id": "P1", "type": "user"}}]}) != []
