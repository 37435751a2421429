"""A slow team domain: callers needing the keys share one in-flight fetch, which gives up after a short timeout."""

from __future__ import annotations

import asyncio
import time

from bot.auth import AccessVerifier, AuthError, KeysUnavailable
from bot.simulators.access_sim import AccessSimulator
from tests.scenario.test_api import Api, api  # noqa: F401 - the fixture

LATENCY = 2.0  # seconds the certs endpoint takes
THROTTLE = 1.0  # refetch throttle, shorter than one fetch: the case where callers used to queue fetches


async def test_three_api_callers_with_an_unknown_kid_share_one_slow_fetch(api: Api) -> None:  # noqa: F811
    assert (await api.call("GET", "/api/roles", api.as_()))[0] == 200
    verifier = api.stack.bot.api
    assert verifier is not None
    verifier.refetch_every = THROTTLE
    await asyncio.sleep(THROTTLE)
    api.access.certs_latency = LATENCY
    fetched = api.access.certs_calls
    started = time.monotonic()
    answers = await asyncio.gather(*(api.call("GET", "/api/roles", api.as_(kid="never-published"))
                                     for _ in range(3)))
    elapsed = time.monotonic() - started
    assert [status for status, _ in answers] == [401, 401, 401]
    assert api.access.certs_calls == fetched + 1, "one fetch for all three callers"
    assert elapsed < 2 * LATENCY, f"{elapsed:.1f}s: the callers waited for one another's fetches"


async def test_three_api_callers_with_a_rotated_key_share_one_fetch_and_are_let_in(api: Api) -> None:  # noqa: F811
    assert (await api.call("GET", "/api/roles", api.as_()))[0] == 200
    verifier = api.stack.bot.api
    assert verifier is not None
    verifier.refetch_every = THROTTLE
    await asyncio.sleep(THROTTLE)
    api.access.rotate()
    api.access.certs_latency = LATENCY
    fetched = api.access.certs_calls
    answers = await asyncio.gather(*(api.call("GET", "/api/roles", api.as_()) for _ in range(3)))
    assert [status for status, _ in answers] == [200, 200, 200]
    assert api.access.certs_calls == fetched + 1


async def test_a_team_domain_slower_than_the_fetch_timeout_gives_every_waiter_503_soon(api: Api) -> None:  # noqa: F811
    verifier = api.stack.bot.api
    assert verifier is not None
    verifier.fetch_timeout = 0.5
    api.access.certs_latency = 3.0  # (the simulator answers, late, after the test)
    started = time.monotonic()
    answers = await asyncio.gather(*(api.call("GET", "/api/roles", api.as_()) for _ in range(3)))
    elapsed = time.monotonic() - started
    assert [(status, body["error"]) for status, body in answers] == [(503, "keys_unavailable")] * 3
    assert api.access.certs_calls == 1
    assert elapsed < 2.5, f"{elapsed:.1f}s: the waiters did not give up at the timeout"


async def test_a_caller_that_goes_away_does_not_cancel_the_fetch_the_others_wait_for() -> None:
    access = AccessSimulator(aud="aud-x")
    team = await access.start()
    verifier = AccessVerifier(team, "aud-x")
    try:
        access.certs_latency = 0.5
        token = access.token(aud=["aud-x"])
        leaver = asyncio.create_task(verifier.verify(token))
        stayer = asyncio.create_task(verifier.verify(token))
        await asyncio.sleep(0.1)
        leaver.cancel()
        identity = await stayer
        assert identity.email == "alice@example.com"
        assert access.certs_calls == 1
        access.certs_latency = 0.0
        assert (await verifier.verify(token)).email == "alice@example.com"
        assert access.certs_calls == 1, "cached"
    finally:
        await verifier.aclose()
        await access.stop()


async def test_after_a_failed_fetch_callers_in_the_throttle_window_get_keys_unavailable_without_a_fetch() -> None:
    access = AccessSimulator(aud="aud-x")
    team = await access.start()
    verifier = AccessVerifier(team, "aud-x")
    try:
        access.fail_certs = True
        token = access.token(aud=["aud-x"])
        for _ in range(3):
            try:
                await verifier.verify(token)
            except KeysUnavailable:
                pass
            else:
                raise AssertionError("verified without keys")
        assert access.certs_calls == 1
        access.fail_certs = False
        verifier.refetch_every = 0.0
        assert (await verifier.verify(token)).email == "alice@example.com"
        try:
            await verifier.verify(access.token(aud=["aud-x"], kid="made-up"))
        except AuthError:
            pass
        else:
            raise AssertionError("a made-up kid was trusted")
    finally:
        await verifier.aclose()
        await access.stop()
