"""Start-up checks against the simulators: a refused token, a missing scope or an unknown group stops `serve`;
an upstream out of reach is a warning. Also the credential health the adapters report into at run time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.http_retry.builtin_async_handlers import async_default_handlers
from slack_sdk.web.async_client import AsyncWebClient

from bot.cloudflare.client import CloudflareClient
from bot.config import ConfigError
from bot.config.policy_file import parse_policy
from bot.credentials import CredentialHealth, SlackObserver, cloudflare_observer
from bot.preflight import check_cloudflare, check_slack
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.simulators.slack_sim import SlackSimulator

BOT_TOKEN = "xoxb-1234-5678-preflightsecret"
CF_TOKEN = "cf-preflight-secret-token"
ACCOUNT = "0123456789abcdef0123456789abcdef"
GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
GROUP2 = "7a1c9e20-3b4d-4f5e-8a6b-2c3d4e5f6a70"
POLICY = parse_policy(f"""
roles:
  prod-db:
    group_id: {GROUP}
    account_id: {ACCOUNT}
    approvers: [U0APPR01]
  staging:
    group_id: {GROUP2}
    account_id: {ACCOUNT}
    auto_approve: true
  staging-ro:
    group_id: {GROUP2}
    account_id: {ACCOUNT}
    auto_approve: true
""")


@pytest.fixture
async def slack() -> AsyncIterator[SlackSimulator]:
    async with SlackSimulator(token=BOT_TOKEN) as sim:
        yield sim


@pytest.fixture
async def cloudflare() -> AsyncIterator[CloudflareSimulator]:
    async with CloudflareSimulator(token=CF_TOKEN) as sim:
        sim.add_group(ACCOUNT, GROUP, name="prod")
        sim.add_group(ACCOUNT, GROUP2, name="staging")
        sim.hang_seconds = 5
        yield sim


@pytest.fixture
def health() -> CredentialHealth:
    return CredentialHealth()


def slack_client(sim: SlackSimulator, health: CredentialHealth, token: str = BOT_TOKEN) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=sim.base_url, timeout=5,
                          retry_handlers=[SlackObserver(health), *async_default_handlers()])


@pytest.fixture
async def cf_client(cloudflare: CloudflareSimulator, health: CredentialHealth) -> AsyncIterator[CloudflareClient]:
    assert cloudflare.base_url
    async with CloudflareClient(cloudflare.base_url, CF_TOKEN, timeout=1,
                                event_hooks={"response": [cloudflare_observer(health)]}) as client:
        yield client


# --------------------------------------------------------------------------- Slack


async def test_a_good_bot_token_with_the_manifests_scopes_passes(slack: SlackSimulator, health) -> None:
    assert await check_slack(slack_client(slack, health)) == []
    assert health.problems() == {}


@pytest.mark.parametrize("how", ["wrong", "revoked"])
async def test_a_refused_bot_token_stops_the_start_naming_the_variable_and_slacks_error(
        slack: SlackSimulator, health, how: str) -> None:
    if how == "revoked":
        slack.token_revoked = True
        client = slack_client(slack, health)
    else:
        client = slack_client(slack, health, token="xoxb-1234-5678-someoneelses")
    with pytest.raises(ConfigError) as caught:
        await check_slack(client)
    message = str(caught.value)
    assert message.startswith("SLACK_BOT_TOKEN: Slack refused it (")
    assert ("token_revoked" if how == "revoked" else "invalid_auth") in message
    assert BOT_TOKEN not in message and "\n" not in message
    assert not health.ok("slack")


async def test_a_bot_token_without_a_manifest_scope_stops_the_start_naming_the_scopes(
        slack: SlackSimulator, health) -> None:
    slack.scopes = ("commands", "chat:write", "im:write", "users:read")
    with pytest.raises(ConfigError) as caught:
        await check_slack(slack_client(slack, health))
    message = str(caught.value)
    assert message.startswith("SLACK_BOT_TOKEN: the token lacks the bot scope(s) users:read.email, usergroups:read")


async def test_slack_out_of_reach_is_a_warning(slack: SlackSimulator, health) -> None:
    slack.fail_next("auth.test", error="service_unavailable", status=503)
    warnings = await check_slack(slack_client(slack, health))
    assert len(warnings) == 1 and "SLACK_BOT_TOKEN" in warnings[0] and "starting anyway" in warnings[0]
    await slack.stop()
    warnings = await check_slack(slack_client(slack, health))
    assert len(warnings) == 1 and "out of reach" in warnings[0]
    assert health.ok("slack")


# --------------------------------------------------------------------------- Cloudflare


async def test_every_roles_group_is_fetched_once_and_known_groups_pass(cloudflare: CloudflareSimulator,
                                                                      cf_client: CloudflareClient, health) -> None:
    assert await check_cloudflare(cf_client, POLICY) == []
    assert cloudflare.count("GET", GROUP) == 1 and cloudflare.count("GET", GROUP2) == 1
    assert health.ok("cloudflare")


async def test_an_unknown_group_stops_the_start_naming_the_role(cloudflare: CloudflareSimulator,
                                                               cf_client: CloudflareClient) -> None:
    cloudflare._groups.pop((ACCOUNT, GROUP2))  # noqa: SLF001 - the group is deleted at Cloudflare
    with pytest.raises(ConfigError) as caught:
        await check_cloudflare(cf_client, POLICY)
    message = str(caught.value)
    assert message.startswith("roles.staging.group_id (also staging-ro): Cloudflare has no Access group "
                              f"{GROUP2} in account {ACCOUNT}"), message
    assert "7003" in message and CF_TOKEN not in message


@pytest.mark.parametrize("status", [401, 403])
async def test_a_cloudflare_token_without_permission_stops_the_start(cloudflare: CloudflareSimulator,
                                                                     cf_client: CloudflareClient, health,
                                                                     status: int) -> None:
    cloudflare.fail_next(3, status=status)
    with pytest.raises(ConfigError) as caught:
        await check_cloudflare(cf_client, POLICY)
    message = str(caught.value)
    assert message.startswith(f"CLOUDFLARE_API_TOKEN: Cloudflare refused it (HTTP {status}: 10000 Authentication error")
    assert f"HTTP {status}" in message and "10000 Authentication error" in message and CF_TOKEN not in message
    assert "\n" not in message
    assert not health.ok("cloudflare") and "10000" in health.problems()["cloudflare"]


@pytest.mark.parametrize("status", [503, 0])
async def test_a_group_cloudflare_cannot_be_reached_for_is_a_warning(cloudflare: CloudflareSimulator,
                                                                     cf_client: CloudflareClient, health,
                                                                     status: int) -> None:
    cloudflare.fail_next(1, status=status)  # 0: the request hangs past the client's timeout
    warnings = await check_cloudflare(cf_client, POLICY)
    assert len(warnings) == 1 and "starting anyway" in warnings[0] and "roles." in warnings[0]
    assert health.ok("cloudflare")


# --------------------------------------------------------------------------- run-time health


async def test_slack_rejecting_the_token_later_marks_it_and_a_success_clears_it(slack: SlackSimulator,
                                                                                health) -> None:
    client = slack_client(slack, health)
    await client.auth_test()
    slack.token_revoked = True
    with pytest.raises(Exception):  # noqa: B017,PT011 - SlackApiError; the health is what is tested
        await client.chat_postMessage(channel="C0GENERAL", text="hi")
    assert "token_revoked" in health.problems()["slack"]
    slack.token_revoked = False
    await client.chat_postMessage(channel="C0GENERAL", text="hi")
    assert health.problems() == {}


async def test_an_ordinary_slack_error_is_not_a_credential_problem(slack: SlackSimulator, health) -> None:
    client = slack_client(slack, health)
    with pytest.raises(Exception):  # noqa: B017,PT011
        await client.chat_update(channel="C0GENERAL", ts="1.2", text="x")
    assert health.ok("slack")


async def test_cloudflare_rejecting_the_token_later_marks_it_and_a_success_clears_it(
        cloudflare: CloudflareSimulator, cf_client: CloudflareClient, health) -> None:
    cloudflare.token = "cf-rotated-token"
    with pytest.raises(Exception):  # noqa: B017,PT011 - PermanentError
        await cf_client.get_group(ACCOUNT, GROUP)
    assert "HTTP 403" in health.problems()["cloudflare"]
    with pytest.raises(Exception):  # noqa: B017,PT011 - an unknown group says nothing about the token
        await cf_client.get_group(ACCOUNT, "00000000-0000-4000-8000-000000000000")
    assert not health.ok("cloudflare")
    cloudflare.token = CF_TOKEN
    await cf_client.get_group(ACCOUNT, GROUP)
    assert health.ok("cloudflare")


# --------------------------------------------------------------------------- Zero Trust lists

LIST = "5b2c1d0e-aaaa-4bbb-8ccc-0123456789ab"
LIST_POLICY = parse_policy(f"""
roles:
  prod-db:
    group_id: {GROUP}
    account_id: {ACCOUNT}
    approvers: [U0APPR01]
  list-role:
    list_id: {LIST}
    account_id: {ACCOUNT}
    auto_approve: true
""")


async def test_a_list_roles_email_list_is_fetched_and_passes(cloudflare: CloudflareSimulator,
                                                            cf_client: CloudflareClient) -> None:
    cloudflare.add_list(ACCOUNT, LIST, type_="EMAIL")
    assert await check_cloudflare(cf_client, LIST_POLICY) == []
    assert cloudflare.count("GET", f"/gateway/lists/{LIST}") == 1


async def test_an_unknown_list_stops_the_start_naming_the_role(cf_client: CloudflareClient) -> None:
    with pytest.raises(ConfigError) as caught:
        await check_cloudflare(cf_client, LIST_POLICY)
    message = str(caught.value)
    assert message.startswith(f"roles.list-role.list_id: Cloudflare has no Zero Trust list {LIST} in account "
                              f"{ACCOUNT} (HTTP 404"), message
    assert "\n" not in message


async def test_a_list_that_is_not_of_type_email_stops_the_start(cloudflare: CloudflareSimulator,
                                                               cf_client: CloudflareClient) -> None:
    cloudflare.add_list(ACCOUNT, LIST, type_="IP")
    with pytest.raises(ConfigError) as caught:
        await check_cloudflare(cf_client, LIST_POLICY)
    assert str(caught.value) == (f"roles.list-role.list_id: Cloudflare's Zero Trust list {LIST} in account "
                                 f"{ACCOUNT} is of type IP, not EMAIL (an Access group's email_list rule needs a "
                                 "list of emails)")


# --------------------------------------------------------------------------- many roles: the groups are listed

def _many_roles_policy(groups: list[str]) -> object:
    roles = "".join(f"  role-{i}:\n    group_id: {g}\n    account_id: {ACCOUNT}\n    auto_approve: true\n"
                    for i, g in enumerate(groups))
    return parse_policy("roles:\n" + roles)


def _group_ids(n: int, start: int = 0) -> list[str]:
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(start, start + n)]


def _calls(cloudflare: CloudflareSimulator) -> tuple[int, int]:
    """(listing calls, single-group GETs) so far."""
    listing = sum(1 for c in cloudflare.calls if c.method == "GET" and c.path.split("?")[0].endswith("/access/groups"))
    single = sum(1 for c in cloudflare.calls if c.method == "GET" and "/access/groups/" in c.path)
    return listing, single


async def test_forty_eight_roles_groups_are_checked_with_one_listing_call_not_forty_eight_gets(
        cloudflare: CloudflareSimulator, cf_client: CloudflareClient) -> None:
    ids = _group_ids(48)  # with the fixture's two: one page of 50
    for gid in ids:
        cloudflare.add_group(ACCOUNT, gid, name=gid[-4:])
    assert await check_cloudflare(cf_client, _many_roles_policy(ids)) == []
    assert _calls(cloudflare) == (1, 0)


async def test_a_group_missing_from_the_whole_listing_stops_the_start_naming_its_role(
        cloudflare: CloudflareSimulator, cf_client: CloudflareClient) -> None:
    ids = _group_ids(6)
    for gid in ids[:5]:
        cloudflare.add_group(ACCOUNT, gid)
    with pytest.raises(ConfigError) as caught:
        await check_cloudflare(cf_client, _many_roles_policy(ids))
    assert str(caught.value) == (f"roles.role-5.group_id: Cloudflare has no Access group {ids[5]} in account "
                                 f"{ACCOUNT} (it is not among the account's groups)")
    assert _calls(cloudflare) == (1, 0)


async def test_groups_the_listing_did_not_reach_within_its_page_limit_are_fetched_one_by_one(
        cloudflare: CloudflareSimulator, cf_client: CloudflareClient) -> None:
    others = _group_ids(150, start=1000)  # three pages of other groups first
    for gid in others:
        cloudflare.add_group(ACCOUNT, gid)
    ids = _group_ids(4)  # 4 wanted: at most 2 pages, which hold none of them
    for gid in ids:
        cloudflare.add_group(ACCOUNT, gid)
    assert await check_cloudflare(cf_client, _many_roles_policy(ids)) == []
    assert _calls(cloudflare) == (2, 4)  # the listing gave up after len(ids) // 2 pages


@pytest.mark.parametrize("status", [401, 403])
async def test_a_token_refused_on_the_listing_still_stops_the_start_naming_the_token(
        cloudflare: CloudflareSimulator, cf_client: CloudflareClient, status: int) -> None:
    ids = _group_ids(5)
    for gid in ids:
        cloudflare.add_group(ACCOUNT, gid)
    cloudflare.fail_next(6, status=status)
    with pytest.raises(ConfigError) as caught:
        await check_cloudflare(cf_client, _many_roles_policy(ids))
    assert str(caught.value).startswith(f"CLOUDFLARE_API_TOKEN: Cloudflare refused it (HTTP {status}")
