"""`/api` (spec §8) over real HTTP, with tokens signed by a local Cloudflare Access team domain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.domain.audit import FIELDS
from bot.domain.model import Grant, GrantState, RequestState
from bot.simulators.access_sim import AccessSimulator
from bot.simulators.stack import STAGING_GROUP, Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVE,
    BASE_POLICY,
    BOB,
    approval_message,
    audit,
    click,
    emails,
    formatted_texts,
    grants,
    live_markup,
    request,
    settle,
)

AUD = "aud-accessbot-api-test"
BOB_EMAIL, DANA_EMAIL, MALLORY_EMAIL = "bob@example.com", "dana@example.com", "mallory@example.com"


@dataclass
class Api:
    """The bot with /api on, the team domain that signs its tokens, and a way to call it."""

    stack: Stack
    access: AccessSimulator
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, token: str | None = None, *, cookie: bool = False,
                   body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        headers, cookies = {}, {}
        if token is not None:
            if cookie:
                cookies["CF_Authorization"] = token
            else:
                headers["Cf-Access-Jwt-Assertion"] = token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        async with self.http.request(method, self.stack.url + path, headers=headers, cookies=cookies,
                                     data=data) as resp:
            text = await resp.text()
            assert resp.content_type == "application/json", (resp.status, text)
            return resp.status, json.loads(text)

    def as_(self, email: str | None = ALICE_EMAIL, **kw: Any) -> str:
        return self.access.token(email, aud=kw.pop("aud", [AUD]), **kw)

    def service(self) -> str:
        return self.access.token(None, common_name="backstage.example.access", aud=[AUD])


@pytest.fixture
async def api(make_stack: StackFactory) -> AsyncIterator[Api]:
    access = AccessSimulator(aud=AUD)
    team = await access.start()
    stack = await make_stack(settings_overrides={"accessbot_reconcile_interval": timedelta(0),
                                                 "cf_access_team_domain": team, "cf_access_aud": AUD})
    async with aiohttp.ClientSession() as http:
        yield Api(stack, access, http)
    await access.stop()


# ---- who may call ---------------------------------------------------------------------------------------------


async def test_without_a_token_the_api_answers_401_and_audits_it(api: Api) -> None:
    status, body = await api.call("GET", "/api/roles")
    assert status == 401 and body["error"] == "unauthenticated" and "Cf-Access-Jwt-Assertion" in body["message"]
    [rejected] = await audit(api.stack, "auth.rejected")
    assert rejected["details"]["source"] == "api" and rejected["details"]["path"] == "/api/roles"


async def test_a_token_that_must_not_be_trusted_gets_401_and_its_reason(api: Api, subtests: pytest.Subtests) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    a = api.access
    cases = {
        "expired": (a.token(ALICE_EMAIL, aud=[AUD], ttl=-120), "expired"),
        "not yet valid": (a.token(ALICE_EMAIL, aud=[AUD], nbf=2_000_000_000), "not valid yet"),
        "another application": (a.token(ALICE_EMAIL, aud=["someone-else"]), "aud"),
        "another team domain": (a.token(ALICE_EMAIL, aud=[AUD], iss="https://evil.cloudflareaccess.com"), "iss"),
        "signed by a stranger under our kid": (a.token(ALICE_EMAIL, aud=[AUD], key=stranger), "invalid"),
        "a kid nobody publishes": (a.token(ALICE_EMAIL, aud=[AUD], kid="made-up", key=stranger), "does not publish"),
        "HS256": (a.token(ALICE_EMAIL, aud=[AUD], alg="HS256"), "RS256"),
        "alg none": ("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJlbWFpbCI6ImFAYi5jIn0.", "RS256"),
        "not a JWT": ("hello", "not a JWT"),
        "no email and no common_name": (a.token(None, aud=[AUD]), "neither"),
    }
    for case, (token, why) in cases.items():
        with subtests.test(case):
            status, body = await api.call("GET", "/api/roles", token)
            assert status == 401 and why in body["message"], body
    rows = await audit(api.stack, "auth.rejected")
    assert len(rows) == 10 and all(r["details"]["source"] == "api" for r in rows)
    assert not any(token in json.dumps(rows) for token, _ in cases.values() if len(token) > 10), "no token audited"


async def test_the_token_may_come_in_the_cf_authorization_cookie(api: Api) -> None:
    status, body = await api.call("GET", "/api/roles", api.as_(), cookie=True)
    assert status == 200 and body["roles"]


async def test_a_rotated_key_is_fetched_once_and_made_up_kids_do_not_hammer_cloudflare(api: Api) -> None:
    assert (await api.call("GET", "/api/roles", api.as_()))[0] == 200
    fetched = api.access.certs_calls
    assert (await api.call("GET", "/api/roles", api.as_()))[0] == 200
    assert api.access.certs_calls == fetched, "keys are cached"
    verifier = api.stack.bot.api
    assert verifier is not None
    verifier.refetch_every = 0.2  # (5 s in service) so the test need not wait
    await asyncio.sleep(0.25)
    api.access.rotate()
    assert (await api.call("GET", "/api/roles", api.as_()))[0] == 200, "the new key is fetched on its unknown kid"
    assert api.access.certs_calls == fetched + 1
    verifier.refetch_every = 60
    for i in range(20):
        assert (await api.call("GET", "/api/roles", api.as_(kid=f"bogus-{i}")))[0] == 401
    assert api.access.certs_calls == fetched + 1, "unknown kids refetch at most once every few seconds"


async def test_when_the_team_domain_cannot_be_reached_the_api_says_503_not_401(api: Api) -> None:
    api.access.fail_certs = True
    status, body = await api.call("GET", "/api/roles", api.as_())
    assert status == 503 and body["error"] == "keys_unavailable"


async def test_the_api_is_off_unless_both_settings_are_given(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http, http.get(stack.url + "/api/roles") as resp:
        assert resp.status == 404


# ---- reading ----------------------------------------------------------------------------------------------------


async def test_roles_come_with_their_limits(api: Api) -> None:
    status, body = await api.call("GET", "/api/roles", api.service())
    assert status == 200
    roles = {r["name"]: r for r in body["roles"]}
    assert set(roles) == set(api.stack.policy.roles)
    assert roles["prod-db"]["max_duration"] == "8h" and roles["prod-db"]["min_duration"] == "1m"
    assert roles["staging"]["auto_approve"] is True and roles["prod-db"]["approvers"] == ["U0APPR01", "S0SRETEAM"]


async def test_people_see_their_own_grants_and_admins_and_service_tokens_see_all(api: Api) -> None:
    for who, email in ((ALICE, ALICE_EMAIL), (BOB, BOB_EMAIL)):
        status, _ = await api.call("POST", "/api/requests", api.as_(email), body={"role": "staging"})
        assert status == 201, who
    await settle(api.stack)
    status, body = await api.call("GET", "/api/grants", api.as_())
    assert status == 200 and [g["email"] for g in body["grants"]] == [ALICE_EMAIL]
    assert set(body["grants"][0]) == {"id", "request_id", "role", "email", "slack_user", "state", "granted_at",
                                      "expires_at", "revoked_at", "break_glass", "acknowledged_by",
                                      "acknowledged_at"}
    status, body = await api.call("GET", f"/api/grants?email={BOB_EMAIL}", api.as_())
    assert status == 403 and "your own" in body["message"]
    for token in (api.as_(DANA_EMAIL), api.service()):
        status, body = await api.call("GET", "/api/grants?role=staging&active=true", token)
        assert status == 200 and sorted(g["email"] for g in body["grants"]) == [ALICE_EMAIL, BOB_EMAIL]
    status, body = await api.call("GET", f"/api/grants?email={BOB_EMAIL}", api.as_(DANA_EMAIL))
    assert [g["email"] for g in body["grants"]] == [BOB_EMAIL]
    status, body = await api.call("GET", "/api/grants?active=maybe", api.as_())
    assert status == 400


async def test_a_request_is_visible_to_its_requester_its_approvers_and_admins_only(api: Api) -> None:
    status, filed = await api.call("POST", "/api/requests", api.as_(),
                                   body={"role": "prod-db", "duration": "2h", "reason": "incident 4211"})
    assert status == 201
    await click(api.stack, BOB, await approval_message(api.stack), APPROVE)
    for email in (ALICE_EMAIL, BOB_EMAIL, DANA_EMAIL, "carol@example.com"):  # carol approves through S0SRETEAM
        status, body = await api.call("GET", f"/api/requests/{filed['id'].lower()}", api.as_(email))
        assert status == 200, email
        assert body["state"] == "approved" and [v["voter"] for v in body["votes"]] == [BOB]
    status, body = await api.call("GET", f"/api/requests/{filed['id']}", api.as_(MALLORY_EMAIL))
    assert status == 403
    assert (await api.call("GET", "/api/requests/r-ZZZZZZ", api.as_()))[0] == 404
    assert (await api.call("GET", "/api/requests/nonsense", api.as_()))[0] == 400


# ---- requesting -------------------------------------------------------------------------------------------------


async def test_a_request_filed_through_the_api_is_approved_in_slack_as_usual(api: Api) -> None:
    status, body = await api.call("POST", "/api/requests", api.as_(),
                                  body={"role": "prod-db", "duration": "2h", "reason": "incident <!channel> 4211"})
    assert status == 201
    assert body["state"] == "pending" and body["slack_user"] == ALICE and body["email"] == ALICE_EMAIL
    assert body["duration"] == "2h" and body["reason"] == "incident <!channel> 4211" and body["votes"] == []
    msg = await approval_message(api.stack)
    assert body["id"] in json.dumps(msg) and not any(live_markup(t) for t in formatted_texts(msg))
    [created] = await audit(api.stack, "request.created")
    assert created["details"]["source"] == "api" and created["actor"] == ALICE
    await click(api.stack, BOB, msg, APPROVE)
    [grant] = await grants(api.stack)
    assert grant.state is GrantState.ACTIVE and ALICE_EMAIL in emails(api.stack)


async def test_a_request_for_an_auto_approve_role_comes_back_approved_with_its_grant(api: Api) -> None:
    status, body = await api.call("POST", "/api/requests", api.as_(), body={"role": "staging", "duration": 1800})
    assert status == 201 and body["state"] == "approved" and body["grant_id"] and body["duration"] == "30m"
    await settle(api.stack)
    assert ALICE_EMAIL in emails(api.stack, STAGING_GROUP)
    assert (await request(api.stack, body["id"])).state is RequestState.APPROVED


async def test_a_bad_request_body_gets_400_naming_the_problem_and_files_nothing(
        api: Api, subtests: pytest.Subtests) -> None:
    cases = {
        "not JSON": (b"role=prod-db", "expected"),
        "no role": (b'{"duration": "1h"}', "role"),
        "an unknown field": (b'{"role": "staging", "approver": "me"}', "approver"),
        "a number for the role": (b'{"role": 7}', "role"),
        "a bad duration": (b'{"role": "staging", "duration": "2x"}', "duration"),
        "a negative duration": (b'{"role": "staging", "duration": -5}', "duration"),
        "a huge duration": (b'{"role": "staging", "duration": 99999999999999999999}', "duration"),
    }
    for case, (raw, names) in cases.items():
        with subtests.test(case):
            status, body = await api.call("POST", "/api/requests", api.as_(), raw=raw)
            assert status == 400 and body["error"] == "bad_request" and names in body["message"], body
    assert await grants(api.stack) == [] and await audit(api.stack, "request.created") == []


async def test_a_request_the_policy_refuses_gets_422_or_403_and_is_audited(api: Api) -> None:
    status, body = await api.call("POST", "/api/requests", api.as_(), body={"role": "nosuch"})
    assert status == 422 and body["error"] == "unknown_role"
    status, body = await api.call("POST", "/api/requests", api.as_(), body={"role": "prod-db", "duration": "9h",
                                                                            "reason": "x"})
    assert status == 422 and body["error"] == "duration_too_long" and "9h" in body["message"]
    status, body = await api.call("POST", "/api/requests", api.as_(), body={"role": "secrets", "reason": "x"})
    assert status == 403 and body["error"] == "not_allowed"
    refused = await audit(api.stack, "request.refused")
    assert [r["details"]["code"] for r in refused] == ["unknown_role", "duration_too_long", "not_allowed"]


async def test_a_service_token_and_an_email_slack_does_not_know_may_not_request(api: Api) -> None:
    status, body = await api.call("POST", "/api/requests", api.service(), body={"role": "staging"})
    assert status == 403 and body["error"] == "service_token"
    status, body = await api.call("POST", "/api/requests", api.as_("stranger@example.com"), body={"role": "staging"})
    assert status == 403 and body["error"] == "no_slack_user"
    refused = await audit(api.stack, "request.refused")
    assert [(r["actor"], r["details"]["code"]) for r in refused] == [
        ("service:backstage.example.access", "service_token"), ("stranger@example.com", "no_slack_user")]
    assert await grants(api.stack) == []


# ---- the audit log ----------------------------------------------------------------------------------------------


async def test_admins_page_through_the_audit_log_with_exactly_the_spec_fields(api: Api) -> None:
    for _ in range(3):
        await api.call("POST", "/api/requests", api.as_(), body={"role": "nosuch"})
    status, body = await api.call("GET", "/api/audit?limit=2", api.as_(DANA_EMAIL))
    assert status == 200 and [e["seq"] for e in body["events"]] == [1, 2] and body["next_since_seq"] == 2
    assert all(list(e) == list(FIELDS) for e in body["events"])
    status, body = await api.call("GET", "/api/audit?since_seq=2&limit=100", api.as_(DANA_EMAIL))
    assert [e["seq"] for e in body["events"]] == [3]
    assert body["events"] == (await audit(api.stack))[2:]


async def test_only_admins_read_the_audit_log(api: Api) -> None:
    for token, status_wanted in ((api.as_(), 403), (api.service(), 403), (api.as_(DANA_EMAIL), 200)):
        assert (await api.call("GET", "/api/audit", token))[0] == status_wanted
    assert (await api.call("GET", "/api/audit?limit=0", api.as_(DANA_EMAIL)))[0] == 400
    assert (await api.call("GET", "/api/audit?limit=5000", api.as_(DANA_EMAIL)))[0] == 400
    assert (await api.call("GET", "/api/audit?since_seq=-1", api.as_(DANA_EMAIL)))[0] == 400


# ---- scheduled start ------------------------------------------------------------------------------------------


async def test_a_request_with_starts_at_is_scheduled_and_shows_its_start(api: Api) -> None:
    status, body = await api.call("POST", "/api/requests", api.as_(),
                                  body={"role": "staging", "duration": "1h", "starts_at": "2026-01-01T12:00:00Z"})
    assert status == 201 and body["state"] == "scheduled" and body["starts_at"] == "2026-01-01T12:00:00Z"
    assert body["grant_id"] is None
    [created] = await audit(api.stack, "request.created")
    assert created["details"]["starts_at"] == "2026-01-01T12:00:00+00:00"
    status, body = await api.call("POST", "/api/requests", api.as_(),
                                  body={"role": "prod-db", "reason": "x", "starts_at": "2025-12-31T12:00:00Z"})
    assert status == 422 and body["error"] == "start_in_past"
    status, body = await api.call("POST", "/api/requests", api.as_(),
                                  body={"role": "prod-db", "reason": "x", "starts_at": "noon"})
    assert status == 422 and body["error"] == "bad_start" and "2026-12-24T08:00Z" in body["message"]
    status, body = await api.call("POST", "/api/requests", api.as_(), body={"role": "prod-db", "starts_at": 5})
    assert status == 400 and "starts_at" in body["message"]


# ---- pages of grants ------------------------------------------------------------------------------------------


async def _add_grants(api: Api, ids: range, *, email: str = "page@example.com", active: bool = False) -> None:
    """Grants written straight into the store, two to a creation instant (the ID breaks the tie)."""
    now = api.stack.bot.deps.clock.now()
    async with api.stack.bot.deps.store.tx() as tx:
        for i in ids:
            await tx.grants.add(Grant(f"g-P{i:06d}", f"r-P{i:06d}", "staging", f"U0P{i:06d}" if active else "U0PAGE",
                                      email, "acc", STAGING_GROUP, timedelta(hours=1), now + timedelta(seconds=i // 2),
                                      state=GrantState.ACTIVE if active else GrantState.REVOKED))


async def _all_pages(api: Api, query: str, token: str, between=None) -> list[str]:  # noqa: ANN001
    """The grant IDs of every page, following next_cursor; `between(n)` runs after page n."""
    ids, cursor, n = [], None, 0
    while True:
        status, body = await api.call("GET", f"/api/grants?{query}" + (f"&cursor={cursor}" if cursor else ""), token)
        assert status == 200, body
        ids += [g["id"] for g in body["grants"]]
        cursor, n = body["next_cursor"], n + 1
        if cursor is None:
            return ids
        if between:
            await between(n)


async def test_grants_come_in_pages_that_neither_repeat_nor_skip_while_grants_are_added(api: Api) -> None:
    await _add_grants(api, range(0, 25))

    async def more(n: int) -> None:
        if n == 1:
            await _add_grants(api, range(100, 106))

    ids = await _all_pages(api, "limit=10", api.as_(DANA_EMAIL), more)
    assert ids == [f"g-P{i:06d}" for i in [*range(25), *range(100, 106)]], "every grant once, oldest first"
    status, body = await api.call("GET", "/api/grants?limit=31", api.as_(DANA_EMAIL))
    assert len(body["grants"]) == 31 and body["next_cursor"] is None


async def test_a_page_is_100_grants_unless_asked_and_at_most_1000(api: Api) -> None:
    await _add_grants(api, range(150))
    status, body = await api.call("GET", "/api/grants", api.as_(DANA_EMAIL))
    assert status == 200 and len(body["grants"]) == 100 and body["next_cursor"]
    status, body = await api.call("GET", "/api/grants?limit=1000", api.as_(DANA_EMAIL))
    assert len(body["grants"]) == 150 and body["next_cursor"] is None
    for bad in ("0", "1001", "ten", "-5"):
        status, body = await api.call("GET", f"/api/grants?limit={bad}", api.as_(DANA_EMAIL))
        assert status == 400 and body["message"] == "limit is a whole number, 1 to 1000", bad


async def test_a_cursor_the_api_did_not_give_is_a_400_that_says_what_to_pass(api: Api) -> None:
    for bad in ("garbage!", "bm90IGEgY3Vyc29y", "MjAyNi0xMi0wMVQwOTowMDowMHxn", "%00", "A" * 300):
        status, body = await api.call("GET", f"/api/grants?cursor={bad}", api.as_(DANA_EMAIL))
        assert status == 400 and body["error"] == "bad_request", (bad, body)
        assert "next_cursor of the previous page unchanged" in body["message"]


async def test_filters_hold_across_pages_and_a_person_pages_through_only_their_own(api: Api) -> None:
    await _add_grants(api, range(0, 12), email=ALICE_EMAIL.upper())
    await _add_grants(api, range(20, 27), active=True)
    await _add_grants(api, range(40, 45))
    assert await _all_pages(api, "limit=5", api.as_()) == [f"g-P{i:06d}" for i in range(12)]
    active = await _all_pages(api, "limit=3&active=true", api.as_(DANA_EMAIL))
    assert active == [f"g-P{i:06d}" for i in range(20, 27)]
    ended = await _all_pages(api, "limit=4&active=false", api.as_(DANA_EMAIL))
    assert ended == [f"g-P{i:06d}" for i in [*range(12), *range(40, 45)]]


async def test_an_agent_breaks_glass_through_the_api_under_the_same_rules(make_stack: StackFactory) -> None:
    access = AccessSimulator(aud=AUD)
    team = await access.start()
    glass = ("\n  glass-db:\n    group_id: 5b2c7d10-1a2b-4c3d-8e9f-0a1b2c3d4e03\n"
             "    account_id: 1234567890abcdef1234567890abcdef\n    approvers: [U0APPR01]\n"
             "    break_glass: true\n    break_glass_max_duration: 20m\n")
    stack = await make_stack(BASE_POLICY.rstrip("\n") + glass,
                             settings_overrides={"accessbot_reconcile_interval": timedelta(0),
                                                 "cf_access_team_domain": team, "cf_access_aud": AUD})
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(stack, access, http)
            status, body = await api.call("POST", "/api/requests", api.as_(),
                                          body={"role": "prod-db", "reason": "fire", "break_glass": True})
            assert status == 422 and body["error"] == "break_glass_not_allowed"
            status, body = await api.call("POST", "/api/requests", api.as_(),
                                          body={"role": "glass-db", "duration": "2h", "reason": "INC-7",
                                                "break_glass": True})
            assert status == 201 and body["state"] == "approved" and body["duration"] == "20m", body
            await settle(stack)
            status, shown = await api.call("GET", "/api/grants", api.as_())
            [grant] = shown["grants"]
            assert grant["id"] == body["grant_id"] and grant["break_glass"] is True
            assert grant["acknowledged_by"] is None
            status, roles = await api.call("GET", "/api/roles", api.as_())
            row = next(r for r in roles["roles"] if r["name"] == "glass-db")
            assert row["break_glass"] is True and row["break_glass_max_duration"] == "20m"
            [created] = [r for r in await audit(stack, "grant.break_glass")]
            assert created["details"]["source"] == "api" and created["details"]["capped"] is True
    finally:
        await access.stop()
