"""A signed request delivered again (a replay within Slack's 5-minute window) is refused and audited:
Slack never sends the same signed command or click twice, so the repeat does nothing."""

from __future__ import annotations

import asyncio
import json
import urllib.parse

from bot.simulators.slack_driver import FORM
from bot.simulators.stack import Stack
from tests.scenario.helpers import (
    ALICE,
    APPROVE,
    BOB,
    all_requests,
    approval_message,
    audit,
    click,
    grants,
    settle,
    slash,
)


async def _replayed(stack: Stack, body: bytes, times: int = 3) -> list[int]:
    headers = {"Content-Type": FORM, **stack.driver.sign(body)}  # one signature, sent `times` times
    statuses = [(await stack.driver.raw(body, headers)).status for _ in range(times)]
    await settle(stack)
    return statuses


async def test_a_replayed_extend_files_one_extension_and_the_replays_are_audited(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    await click(stack, BOB, msg, APPROVE)
    [grant] = await grants(stack)
    fields, _ = stack.driver._slash_payload(ALICE, f"extend {grant.id} 1h more", "/access", "C0GENERAL")  # noqa: SLF001
    statuses = await _replayed(stack, urllib.parse.urlencode(list(fields.items())).encode())
    assert statuses == [200, 401, 401]
    extensions = [r for r in await all_requests(stack) if r.kind.value != "new" and r.grant_id == grant.id]
    assert len(extensions) == 1
    replays = [r for r in await audit(stack, "auth.rejected") if "replayed" in r["details"]["why"]]
    assert len(replays) == 2 and replays[0]["details"]["claimed_user"] == ALICE


async def test_a_replayed_command_of_any_kind_runs_once(stack: Stack) -> None:
    fields, _ = stack.driver._slash_payload(ALICE, "request staging 1h", "/access", "C0GENERAL")  # noqa: SLF001
    assert await _replayed(stack, urllib.parse.urlencode(list(fields.items())).encode()) == [200, 401, 401]
    assert len(await grants(stack)) == 1
    assert len(stack.slack.ephemerals(ALICE)) == 1


async def test_a_replayed_click_counts_once(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    payload = stack.driver._click_payload(BOB, msg, APPROVE)  # noqa: SLF001
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    assert await _replayed(stack, body, 2) == [200, 401]
    assert len(await audit(stack, "request.vote")) == 1
    assert len(stack.slack.ephemerals(BOB)) == 1


async def test_a_command_is_acked_while_the_database_is_locked_and_answered_once_it_is_free(stack: Stack) -> None:
    # No database round trip stands before the ack: the delivery key is written after it (bot.slack.deliveries)
    locked, release = asyncio.Event(), asyncio.Event()

    async def hold_the_writer() -> None:
        async with stack.bot.deps.store.tx() as tx:  # on SQLite this is the one writer
            if tx.pg:
                await tx.conn.exec_driver_sql("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE")
            locked.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_writer())
    await locked.wait()
    try:
        resp = await asyncio.wait_for(stack.driver.slash(ALICE, "roles"), 5)
        assert resp.status == 200 and resp.elapsed < 1.0, f"the ack waited {resp.elapsed:.3f}s for the database"
        await asyncio.sleep(0.2)
        assert stack.slack.ephemerals(ALICE) == [], "the work waits until its key is recorded"
    finally:
        release.set()
        await holder
    await settle(stack)
    assert len(stack.slack.ephemerals(ALICE)) == 1


async def test_a_replay_delivered_to_another_replica_is_acked_but_not_acted_on_and_is_audited(stack: Stack) -> None:
    fields, _ = stack.driver._slash_payload(ALICE, "request staging 1h", "/access", "C0GENERAL")  # noqa: SLF001
    body = urllib.parse.urlencode(list(fields.items())).encode()
    headers = {"Content-Type": FORM, **stack.driver.sign(body)}
    assert (await stack.driver.raw(body, headers)).status == 200
    await settle(stack)
    stack.bot.ingress.deliveries._seen.clear()  # noqa: SLF001 - as a replica that never saw it: only the table has it
    assert (await stack.driver.raw(body, headers)).status == 200, "acked before the table is asked"
    await settle(stack)
    assert len(await grants(stack)) == 1
    assert len(stack.slack.ephemerals(ALICE)) == 1
    [replay] = [r for r in await audit(stack, "auth.rejected") if "replayed" in r["details"]["why"]]
    assert replay["details"]["claimed_user"] == ALICE
