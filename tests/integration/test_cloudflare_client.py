"""The real Cloudflare client against the Cloudflare simulator (and, for odd answers, a mock transport)."""

from __future__ import annotations

import email.utils
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bot.cloudflare.client import CloudflareClient, parse_retry_after
from bot.cloudflare.gate import DEFAULT_WAIT
from bot.domain.clock import ManualClock
from bot.domain.errors import ExternalError, PermanentError, TransientError
from bot.domain.membership import email_rule, plan_group_change
from bot.simulators.cloudflare_budget import Budget
from bot.simulators.cloudflare_sim import CloudflareSimulator

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-SECRET-token-must-not-leak"



def assert_no_token(error: ExternalError, token: str = TOKEN) -> None:
    assert token not in str(error)
    assert token not in repr(error)
    assert token not in repr(error.args)
    assert token not in str(error.details())


# -- happy paths ---------------------------------------------------------------------------------


async def test_get_then_put_round_trips_the_group(sim: CloudflareSimulator, client: CloudflareClient) -> None:
    stored = sim.add_group(ACCOUNT, name="Grafana users", include=[email_rule("ann@example.com")])

    group = await client.get_group(ACCOUNT, stored["id"])
    assert group == stored

    body = {k: v for k, v in group.items() if k not in ("id", "created_at", "updated_at")}
    body["include"] = [*group["include"], email_rule("bob@example.com")]
    result = await client.put_group(ACCOUNT, stored["id"], body)

    assert result == sim.group(ACCOUNT, stored["id"])
    assert result["include"] == [email_rule("ann@example.com"), email_rule("bob@example.com")]
    assert await client.get_group(ACCOUNT, stored["id"]) == result
    assert sim.count("PUT", "/access/groups/") == 1
    assert sim.calls[-2].json == body


async def test_put_replaces_the_whole_group_keeping_only_id_and_created_at(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    stored = sim.add_group(
        ACCOUNT,
        name="Old",
        include=[{"everyone": {}}],
        exclude=[{"geo": {"country_code": "KP"}}],
        require=[{"auth_method": {"auth_method": "mfa"}}],
        is_default=False,
    )

    result = await client.put_group(
        ACCOUNT, stored["id"], {"name": "New", "include": [email_rule("a@b.example")]}
    )

    assert result["id"] == stored["id"]
    assert result["created_at"] == stored["created_at"]
    assert result["updated_at"] >= stored["updated_at"]
    assert result["name"] == "New"
    assert result["include"] == [email_rule("a@b.example")]
    # Omitted fields are gone, not merged: that is why the bot must send everything back.
    assert result["exclude"] == [] and result["require"] == []
    assert "is_default" not in result


async def test_revoke_user_posts_the_email_and_the_simulator_records_it(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    assert await client.revoke_user(ACCOUNT, "ann@example.com") is None

    assert sim.revoked_users == [(ACCOUNT, "ann@example.com")]
    assert sim.calls[-1].json == {"email": "ann@example.com"}
    assert sim.calls[-1].path.endswith(f"/accounts/{ACCOUNT}/access/organizations/revoke_user")


async def test_list_groups_follows_pagination_fifty_per_page(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    ids = [sim.add_group(ACCOUNT, name=f"g{i}")["id"] for i in range(120)]
    sim.add_group("other-account", name="not mine")

    groups = await client.list_groups(ACCOUNT)

    assert [g["id"] for g in groups] == ids
    assert sim.count("GET", "/access/groups?") == 3
    assert all("per_page=50" in c.path for c in sim.calls)


async def test_list_groups_of_an_empty_account_is_one_call(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    assert await client.list_groups(ACCOUNT) == []
    assert sim.count("GET") == 1


async def test_base_url_with_or_without_client_v4_and_trailing_slash_joins_paths() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        return httpx.Response(
            200, json={"success": True, "errors": [], "messages": [], "result": {"id": "g"}}
        )

    for base in ("http://127.0.0.1:1234", "http://127.0.0.1:1234/", "https://api.cloudflare.com/client/v4/"):
        async with CloudflareClient(base, TOKEN, transport=httpx.MockTransport(handler)) as cf:
            await cf.get_group("acc", "g")

    assert seen == [
        "http://127.0.0.1:1234/accounts/acc/access/groups/g",
        "http://127.0.0.1:1234/accounts/acc/access/groups/g",
        "https://api.cloudflare.com/client/v4/accounts/acc/access/groups/g",
    ]


# -- transient failures --------------------------------------------------------------------------


async def test_429_is_transient_with_retry_after_from_the_header(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    group = sim.add_group(ACCOUNT, include=[email_rule("ann@example.com")])
    sim.fail_next(status=429, retry_after=2.5)

    with pytest.raises(TransientError) as caught:
        await client.put_group(ACCOUNT, group["id"], {"name": "x", "include": []})

    err = caught.value
    assert err.status == 429 and err.retryable
    assert err.retry_after == 2.5
    assert err.errors and err.errors[0]["code"] == 971
    assert "rate-limited PUT group" in str(err) and "retry after 2.5 s" in str(err)
    assert sim.group(ACCOUNT, group["id"]) == group  # nothing changed
    assert_no_token(err)


async def test_429_without_retry_after_header_waits_the_default_backoff(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    group = sim.add_group(ACCOUNT)
    sim.fail_next(status=429)

    with pytest.raises(TransientError) as caught:
        await client.get_group(ACCOUNT, group["id"])
    assert caught.value.retry_after == DEFAULT_WAIT


async def test_retry_after_as_http_date_becomes_seconds() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": when}, json={"success": False, "errors": []})

    async with CloudflareClient("http://cf.test", TOKEN, transport=httpx.MockTransport(handler)) as cf:
        with pytest.raises(TransientError) as caught:
            await cf.get_group("acc", "g")
    assert caught.value.retry_after is not None and 25 <= caught.value.retry_after <= 31
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 10) == 10.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_transient(sim: CloudflareSimulator, client: CloudflareClient, status: int) -> None:
    group = sim.add_group(ACCOUNT)
    sim.fail_next(status=status)

    with pytest.raises(TransientError) as caught:
        await client.get_group(ACCOUNT, group["id"])

    assert caught.value.status == status
    assert f"Cloudflare failed GET group {group['id']} (HTTP {status})" in str(caught.value)
    assert_no_token(caught.value)
    assert await client.get_group(ACCOUNT, group["id"]) == group  # only the next request failed


async def test_a_request_that_hangs_past_the_client_timeout_is_transient(sim: CloudflareSimulator) -> None:
    assert sim.base_url is not None
    group = sim.add_group(ACCOUNT)
    sim.hang_seconds = 2.0
    sim.fail_next(status=0)

    started = time.monotonic()
    async with CloudflareClient(sim.base_url, TOKEN, timeout=0.2) as cf:
        with pytest.raises(TransientError) as caught:
            await cf.get_group(ACCOUNT, group["id"])
    assert time.monotonic() - started < 1.5
    assert caught.value.status is None
    assert "did not answer GET group" in str(caught.value)
    assert_no_token(caught.value)


async def test_a_connection_closed_without_answer_is_transient(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    group = sim.add_group(ACCOUNT)
    sim.hang_seconds = 0.05
    sim.fail_next(status=0)

    with pytest.raises(TransientError):
        await client.get_group(ACCOUNT, group["id"])
    assert sim.calls[-1].status == 0


async def test_connection_refused_is_transient() -> None:
    async with CloudflareSimulator(TOKEN) as stopped:
        url = stopped.base_url
    assert url is not None
    async with CloudflareClient(url, TOKEN, timeout=1.0) as cf:
        with pytest.raises(TransientError) as caught:
            await cf.revoke_user(ACCOUNT, "ann@example.com")
    assert "Connection to Cloudflare failed" in str(caught.value)
    assert_no_token(caught.value)


async def test_fail_next_counts_down_and_can_target_one_method(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    group = sim.add_group(ACCOUNT)
    sim.fail_next(n=2, status=503, method="PUT")
    body = {"name": "G", "include": []}

    await client.get_group(ACCOUNT, group["id"])  # a GET is not affected
    for _ in range(2):
        with pytest.raises(TransientError):
            await client.put_group(ACCOUNT, group["id"], body)
    await client.put_group(ACCOUNT, group["id"], body)

    assert [c.status for c in sim.calls] == [200, 503, 503, 200]


async def test_going_over_the_rate_limit_gets_429_with_retry_after(sim: CloudflareSimulator) -> None:
    group = sim.add_group(ACCOUNT)
    clock = ManualClock()
    assert sim.base_url is not None
    client = CloudflareClient(sim.base_url, TOKEN, timeout=2.0, clock=clock)
    now = [0.0]
    sim.now = lambda: now[0]
    sim.set_budgets(token=Budget(3, 300.0, block=300.0))
    for _ in range(3):
        await client.get_group(ACCOUNT, group["id"])

    with pytest.raises(TransientError) as caught:
        await client.get_group(ACCOUNT, group["id"])
    assert caught.value.status == 429
    assert caught.value.retry_after == 300
    assert caught.value.errors == [{"code": 971, "message": "Please wait and consider throttling your request speed"}]

    now[0] += 300  # the block and the window have passed
    clock.advance(timedelta(seconds=caught.value.retry_after))  # and so has Retry-After
    await client.get_group(ACCOUNT, group["id"])
    await client.aclose()


async def test_random_faults_are_reproducible_for_a_seed() -> None:
    async def statuses(seed: int) -> list[int]:
        async with CloudflareSimulator(TOKEN, seed=seed) as s:
            assert s.base_url is not None
            group = s.add_group(ACCOUNT)
            s.set_fault_rate(0.5, kinds=("500", "429"), retry_after=0.5)
            clock = ManualClock()
            async with CloudflareClient(s.base_url, TOKEN, clock=clock) as cf:
                for _ in range(20):
                    try:
                        await cf.get_group(ACCOUNT, group["id"])
                    except TransientError as err:
                        assert err.status != 429 or err.retry_after == 0.5
                        clock.advance(timedelta(seconds=1))  # past the token's Retry-After
            return [c.status for c in s.calls]

    first = await statuses(7)
    assert first == await statuses(7)
    assert {200, 500, 429} <= set(first)


# -- permanent failures --------------------------------------------------------------------------


async def test_unknown_group_is_permanent_with_cloudflare_error_code(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    with pytest.raises(PermanentError) as caught:
        await client.put_group(ACCOUNT, "0f3e0000-0000-4000-8000-000000000000", {"name": "x", "include": []})

    err = caught.value
    assert err.status == 404 and not err.retryable
    assert err.errors[0]["code"] == 7003
    assert str(err).startswith(
        "Cloudflare refused PUT group 0f3e0000-0000-4000-8000-000000000000 (HTTP 404): 7003 "
    )
    assert err.details()["errors"] == err.errors


async def test_invalid_put_body_is_rejected_with_400_and_recorded(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    group = sim.add_group(ACCOUNT, include=[email_rule("ann@example.com")])
    body = {"name": "G", "include": [{"email": "x"}]}

    with pytest.raises(PermanentError) as caught:
        await client.put_group(ACCOUNT, group["id"], body)

    assert caught.value.status == 400
    assert caught.value.errors[0]["code"] == 12130
    assert "include/0/email" in str(caught.value)
    assert sim.calls[-1].status == 400
    [invalid] = sim.invalid_requests
    assert invalid.method == "PUT" and invalid.body == body
    assert any("include/0/email" in e for e in invalid.errors)
    assert sim.group(ACCOUNT, group["id"]) == group


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"include": []}, "'name' is a required property"),
        ({"name": "G"}, "'include' is a required property"),
        ({"name": "G", "include": [email_rule("not-an-email")]}, "include/0/email/email"),
        ({"name": "G", "include": [], "exclude": [{"group": {}}]}, "exclude/0/group"),
        (
            {"name": "G", "include": [{"email": {"email": "a@b.example"}, "everyone": {}}]},
            "more than one kind",
        ),
    ],
)
async def test_simulator_validates_put_bodies_against_the_openapi_schema(
    sim: CloudflareSimulator, client: CloudflareClient, body: dict[str, Any], problem: str
) -> None:
    group = sim.add_group(ACCOUNT)
    with pytest.raises(PermanentError) as caught:
        await client.put_group(ACCOUNT, group["id"], body)
    assert caught.value.status == 400
    assert problem in str(caught.value)


async def test_simulator_rejects_rule_kinds_missing_from_its_2024_schema(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    # login_method exists in today's API but not in the schema the simulator is built from.
    group = sim.add_group(ACCOUNT)
    with pytest.raises(PermanentError) as caught:
        await client.put_group(
            ACCOUNT, group["id"], {"name": "G", "include": [{"login_method": {"id": "x"}}]}
        )
    assert "is not a rule Cloudflare knows" in str(caught.value)


async def test_bad_token_is_permanent_and_never_appears_in_the_error(sim: CloudflareSimulator) -> None:
    assert sim.base_url is not None
    wrong = "cf-WRONG-token-also-secret"
    group = sim.add_group(ACCOUNT)
    cf = CloudflareClient(sim.base_url, wrong)
    try:
        with pytest.raises(PermanentError) as caught:
            await cf.get_group(ACCOUNT, group["id"])
    finally:
        await cf.aclose()

    err = caught.value
    assert err.status == 403
    assert err.errors == [{"code": 10000, "message": "Authentication error"}]
    assert_no_token(err, wrong)
    assert wrong not in repr(cf) and TOKEN not in repr(cf)


async def test_missing_authorization_header_gets_401(sim: CloudflareSimulator) -> None:
    group = sim.add_group(ACCOUNT)
    async with httpx.AsyncClient() as raw:
        response = await raw.get(f"{sim.base_url}/accounts/{ACCOUNT}/access/groups/{group['id']}")
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }


async def test_success_false_in_a_2xx_answer_is_permanent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        envelope = {
            "success": False,
            "errors": [{"code": 1234, "message": "nope"}],
            "messages": [],
            "result": None,
        }
        return httpx.Response(200, json=envelope)

    async with CloudflareClient("http://cf.test", TOKEN, transport=httpx.MockTransport(handler)) as cf:
        with pytest.raises(PermanentError) as caught:
            await cf.put_group("acc", "g", {"name": "G", "include": []})
    assert caught.value.status == 200
    assert caught.value.errors == [{"code": 1234, "message": "nope"}]
    assert str(caught.value) == "Cloudflare refused PUT group g (HTTP 200): 1234 nope"


async def test_an_echoed_token_is_scrubbed_from_messages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = {"code": 9109, "message": f"Invalid token {TOKEN}"}
        return httpx.Response(
            400, json={"success": False, "errors": [echoed], "messages": [], "result": None}
        )

    async with CloudflareClient("http://cf.test", TOKEN, transport=httpx.MockTransport(handler)) as cf:
        with pytest.raises(PermanentError) as caught:
            await cf.get_group("acc", "g")
    assert_no_token(caught.value)


# -- the read-modify-write, end to end -----------------------------------------------------------


async def test_plan_group_change_through_client_keeps_foreign_rules_exactly_and_in_order(
    sim: CloudflareSimulator, client: CloudflareClient
) -> None:
    include = [
        {"email_domain": {"domain": "staff.example"}},
        email_rule("ann@example.com"),  # the bot's, to be removed
        {"group": {"id": "aa0a4aab-672b-4bdb-bc33-a59f1130a11f"}},
        {"everyone": {}},
        # Kinds the bot does not model, and shapes with fields it does not know: all foreign.
        {"saml": {"attribute_name": "dept", "attribute_value": "ops"}},
        {"email": {"email": "ann@example.com", "note": "standing member"}},
        {"email_domain": {"domain": "contractors.example"}, "x_future_field": {"kept": True}},
        email_rule("carol@example.com"),  # another grant's, stays
    ]
    exclude = [{"geo": {"country_code": "KP"}}]
    require = [{"device_posture": {"integration_uid": "d1"}}]
    stored = sim.add_group(ACCOUNT, name="Prod DB", include=include, exclude=exclude, require=require)

    group = await client.get_group(ACCOUNT, stored["id"])
    change = plan_group_change(group, add={"bob@example.com"}, remove={"ann@example.com"})
    assert change.added == {"bob@example.com"} and change.removed == {"ann@example.com"}
    await client.put_group(ACCOUNT, stored["id"], change.body)

    after = sim.group(ACCOUNT, stored["id"])
    assert sim.invalid_requests == []
    assert after["include"] == [*include[:1], *include[2:], email_rule("bob@example.com")]
    assert after["exclude"] == exclude
    assert after["require"] == require
    assert after["name"] == "Prod DB"
    assert after["id"] == stored["id"] and after["created_at"] == stored["created_at"]
