"""List roles: one PATCH of a Zero Trust EMAIL list per batch, ownership through tx.members, reconcile on a list."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.errors import PermanentError
from bot.domain.model import GrantState
from bot.domain.wording import explain
from bot.services import grants, requests
from bot.services.reconcile import reconcile
from tests.fakes_uow import FakeLocker
from tests.policies import list_role, policy_text, role
from tests.unit.services.world import ACCOUNT, GROUP, World, make_world

HOUR = timedelta(hours=1)
LIST = "5b2c1d0e-aaaa-4bbb-8ccc-0123456789ab"
TARGET = f"list:{LIST}"


@pytest.fixture
def world() -> World:
    """A world with two auto-approved roles on one Zero Trust list and one group role."""
    text = policy_text({
        "list-a": list_role(LIST, auto_approve=True, require_reason=False, revoke_sessions=True),
        "list-b": list_role(LIST, auto_approve=True, require_reason=False),
        "prod-db": role(GROUP, approvers=["U0APPR01"]),
    })
    w = make_world(text)
    w.groups.add_list(ACCOUNT, LIST, ["hand@example.com"])
    return w


async def _grant(world: World, user: str = "U0ALICE", role_name: str = "list-a") -> str:
    """An auto-approved grant of a list role, not yet applied; its ID."""
    out = await requests.submit(world.deps, user, role_name, HOUR, "")
    assert out.ok, explain(out)
    return out.data["grant_id"]  # type: ignore[index]


async def test_a_batch_of_adds_is_one_patch_and_no_read(world: World) -> None:
    alice, bob = await _grant(world), await _grant(world, "U0BOB")

    counts = await world.sync(TARGET)

    assert world.groups.calls == [("PATCH", LIST)]
    assert counts["applied"] == 2 and counts["patch"] == 1
    assert world.groups.list_values(ACCOUNT, LIST) == ["hand@example.com", "alice@example.com", "bob@example.com"]
    assert {(await world.grant(g)).state for g in (alice, bob)} == {GrantState.ACTIVE}
    async with world.store.tx() as tx:
        assert await tx.members.emails(ACCOUNT, TARGET) == {"alice@example.com", "bob@example.com"}


async def test_a_revoke_is_one_patch_that_removes_only_the_bots_email(world: World) -> None:
    gid = await _grant(world)
    await world.sync(TARGET)
    world.groups.calls.clear()

    await grants.revoke(world.deps, "U0ALICE", gid)
    await world.sync(TARGET)

    assert world.groups.calls == [("PATCH", LIST)]
    assert world.groups.list_values(ACCOUNT, LIST) == ["hand@example.com"]
    assert (await world.grant(gid)).state is GrantState.REVOKED
    assert [e["payload"]["email"] for e in world.store.effects("cf.revoke_sessions")] == ["alice@example.com"]
    async with world.store.tx() as tx:
        assert await tx.members.emails(ACCOUNT, TARGET) == set()


async def test_an_email_another_live_grant_needs_stays_on_the_list(world: World) -> None:
    first = await _grant(world, role_name="list-a")
    await _grant(world, role_name="list-b")
    await world.sync(TARGET)
    world.groups.calls.clear()

    await grants.revoke(world.deps, "U0ALICE", first)
    await world.sync(TARGET)

    assert world.groups.calls == []  # nothing to change, so no call at all
    assert "alice@example.com" in world.groups.list_values(ACCOUNT, LIST)
    assert (await world.grant(first)).state is GrantState.REVOKED
    assert world.store.effects("cf.revoke_sessions") == []  # the email did not leave


async def test_a_refused_append_fails_the_grant_and_tells_the_admins(world: World) -> None:
    gid = await _grant(world)
    world.groups.failures.append(PermanentError("Cloudflare refused PATCH list (HTTP 400): at most 1000 items"))

    assert await world.sync(TARGET) == {"failed": 1}

    assert (await world.grant(gid)).state is GrantState.FAILED
    assert [e["payload"]["event"] for e in world.store.effects("notify.admins")] == ["grant_failed"]
    assert "1000 items" in world.store.effects("notify.admins")[0]["payload"]["error"]
    async with world.store.tx() as tx:  # refused whole, so the email never became the bot's
        assert await tx.members.emails(ACCOUNT, TARGET) == set()


async def test_a_grant_whose_email_a_running_grant_already_put_on_the_list_needs_no_call(world: World) -> None:
    await _grant(world, role_name="list-a")
    await world.sync(TARGET)
    world.groups.calls.clear()

    second = await _grant(world, role_name="list-b")
    await world.sync(TARGET)

    assert world.groups.calls == []
    assert (await world.grant(second)).state is GrantState.ACTIVE
    assert world.groups.list_values(ACCOUNT, LIST).count("alice@example.com") == 1


async def test_when_a_mixed_patch_is_refused_the_removals_still_happen_on_their_own(world: World) -> None:
    old = await _grant(world)
    await world.sync(TARGET)
    await grants.revoke(world.deps, "U0ALICE", old)
    new = await _grant(world, "U0BOB")
    world.groups.failures.append(PermanentError("list full"))
    world.groups.calls.clear()

    await world.sync(TARGET)

    assert world.groups.calls == [("PATCH", LIST), ("PATCH", LIST)]
    assert (await world.grant(old)).state is GrantState.REVOKED
    assert (await world.grant(new)).state is GrantState.FAILED
    assert "alice@example.com" not in world.groups.list_values(ACCOUNT, LIST)


async def test_reconcile_reads_the_list_reports_drift_and_fix_removes_only_the_bots_emails(world: World) -> None:
    gid = await _grant(world)
    await world.sync(TARGET)
    async with world.store.tx() as tx:  # the grant ended while its removal was lost
        assert await tx.grants.move(gid, (GrantState.ACTIVE,), GrantState.REVOKED)

    [drift] = [d for d in await reconcile(world.deps, FakeLocker()) if d.group_id == TARGET]
    assert drift.roles == ["list-a", "list-b"]
    assert drift.stale == ["alice@example.com"] and not drift.fixed
    assert drift.standing == [{"value": "hand@example.com"}]

    [fixed] = [d for d in await reconcile(world.deps, FakeLocker(), fix=True) if d.group_id == TARGET]
    assert fixed.fixed
    assert world.groups.list_values(ACCOUNT, LIST) == ["hand@example.com"]


async def test_reconcile_puts_back_an_active_grants_email_missing_from_the_list(world: World) -> None:
    await _grant(world)
    await world.sync(TARGET)
    world.groups.lists[(ACCOUNT, LIST)]["items"] = [{"value": "hand@example.com"}]  # removed by hand

    [fixed] = [d for d in await reconcile(world.deps, FakeLocker(), fix=True) if d.group_id == TARGET]

    assert fixed.missing == ["alice@example.com"] and fixed.fixed
    assert "alice@example.com" in world.groups.list_values(ACCOUNT, LIST)


async def test_a_patch_ends_a_grant_whose_time_ran_out_before_the_sweep_moved_it(world: World) -> None:
    alice = await _grant(world)
    await world.sync(TARGET)
    world.clock.advance(HOUR)  # alice's end passed; the expiry sweep has not run yet
    await _grant(world, "U0BOB")  # another change owes the list a write
    await world.sync(TARGET)
    ended = await world.grant(alice)
    assert ended.state is GrantState.REVOKED and ended.revoked_at == world.clock.now()
    assert world.groups.list_values(ACCOUNT, LIST) == ["hand@example.com", "bob@example.com"]
    assert [e["payload"]["email"] for e in world.store.effects("cf.revoke_sessions")] == ["alice@example.com"]
