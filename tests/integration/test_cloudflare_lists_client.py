"""The real Cloudflare client's Zero Trust list calls against the simulator: bodies, pages, limits."""

from __future__ import annotations

import pytest

from bot.cloudflare.client import PER_PAGE, CloudflareClient
from bot.domain.errors import PermanentError, TransientError
from bot.simulators.cloudflare_openapi import request_body_errors
from bot.simulators.cloudflare_sim import CloudflareSimulator

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-list-token"
LIST_PATH = "/accounts/{account_id}/gateway/lists/{list_id}"



async def test_one_patch_appends_and_removes_with_a_body_cloudflares_schema_accepts(
        sim: CloudflareSimulator, client: CloudflareClient) -> None:
    zt = sim.add_list(ACCOUNT, values=["ann@example.com", "hand@example.com"])

    await client.patch_list(ACCOUNT, zt["id"], ["bob@example.com"], ["ann@example.com"])

    assert sim.list_values(ACCOUNT, zt["id"]) == ["hand@example.com", "bob@example.com"]
    (call,) = sim.calls
    assert call.method == "PATCH"
    assert call.json == {"append": [{"value": "bob@example.com"}], "remove": ["ann@example.com"]}
    assert request_body_errors("PATCH", LIST_PATH, call.json) == []
    assert sim.invalid_requests == []


async def test_the_schema_refuses_a_remove_written_as_items() -> None:
    assert request_body_errors("PATCH", LIST_PATH, {"remove": [{"value": "ann@example.com"}]}) != []


async def test_a_patch_with_only_removals_leaves_out_append(sim: CloudflareSimulator, client: CloudflareClient) -> None:
    zt = sim.add_list(ACCOUNT, values=["ann@example.com"])

    await client.patch_list(ACCOUNT, zt["id"], [], ["ann@example.com"])

    assert sim.calls[-1].json == {"remove": ["ann@example.com"]}
    assert sim.list_values(ACCOUNT, zt["id"]) == []


async def test_items_are_read_across_every_page(sim: CloudflareSimulator, client: CloudflareClient) -> None:
    values = [f"user{i:03}@example.com" for i in range(PER_PAGE * 2 + 7)]
    zt = sim.add_list(ACCOUNT, values=values)

    items = await client.get_list_items(ACCOUNT, zt["id"])

    assert [i["value"] for i in items] == values
    assert sim.count("GET", "/items") == 3


async def test_get_list_says_its_type_and_count(sim: CloudflareSimulator, client: CloudflareClient) -> None:
    zt = sim.add_list(ACCOUNT, type_="IP", values=["10.0.0.1"])

    got = await client.get_list(ACCOUNT, zt["id"])

    assert (got["type"], got["count"]) == ("IP", 1)


async def test_an_unknown_list_is_a_permanent_404(client: CloudflareClient) -> None:
    with pytest.raises(PermanentError) as caught:
        await client.get_list(ACCOUNT, "00000000-0000-4000-8000-000000000000")
    assert caught.value.status == 404


async def test_a_patch_past_1000_entries_is_refused_whole_with_a_clear_error(
        sim: CloudflareSimulator, client: CloudflareClient) -> None:
    zt = sim.add_list(ACCOUNT, values=[f"u{i}@example.com" for i in range(999)])

    with pytest.raises(PermanentError) as caught:
        await client.patch_list(ACCOUNT, zt["id"], ["a@example.com", "b@example.com"], [])

    assert caught.value.status == 400
    assert "at most 1000 items" in str(caught.value)
    assert len(sim.list_values(ACCOUNT, zt["id"])) == 999


async def test_past_600_list_requests_a_minute_the_answer_is_429_with_retry_after(
        sim: CloudflareSimulator, client: CloudflareClient) -> None:
    zt = sim.add_list(ACCOUNT)
    sim.list_rate_limit = 3  # the same rule as 600 a minute, reached sooner
    for _ in range(3):
        await client.get_list(ACCOUNT, zt["id"])

    with pytest.raises(TransientError) as caught:
        await client.patch_list(ACCOUNT, zt["id"], ["a@example.com"], [])

    assert caught.value.status == 429 and caught.value.retry_after is not None
    assert caught.value.retry_after >= 1
    assert sim.list_values(ACCOUNT, zt["id"]) == []
    assert client.gate.wait_left() > 0  # the client holds every call back until then


async def test_the_simulator_defaults_to_cloudflares_documented_list_limits(sim: CloudflareSimulator) -> None:
    assert (sim.list_max_items, sim.list_rate_limit, sim.list_rate_window) == (1000, 600, 60.0)


async def test_a_list_created_over_the_api_is_validated_and_kept(sim: CloudflareSimulator) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        made = await http.post(f"/accounts/{ACCOUNT}/gateway/lists",
                               json={"name": "prod-db (accessbot)", "type": "EMAIL"})
        refused = await http.post(f"/accounts/{ACCOUNT}/gateway/lists", json={"name": "no type"})

    assert made.status_code == 200 and made.json()["result"]["type"] == "EMAIL"
    assert sim.zt_list(ACCOUNT, made.json()["result"]["id"])["count"] == 0
    assert refused.status_code == 400 and "'type' is a required property" in refused.text
