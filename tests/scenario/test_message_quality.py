"""Messages as people see them: the approval message follows its grant to the end, confirms, cut lists, history."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.simulators.stack import PROD_GROUP, Stack
from tests.policies import policy_text, role
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVAL_CHANNEL,
    APPROVE,
    BASE_DEFAULTS,
    BOB,
    CANCEL,
    CAROL,
    DANA,
    DENY,
    EXTEND,
    REVOKE,
    TWO_APPROVALS,
    advance,
    all_text,
    approval_message,
    audit,
    buttons,
    click,
    grants,
    only_request,
    settle,
    slash,
)


def _header(message: dict) -> str:
    return next(b["text"]["text"] for b in message["blocks"] if b["type"] == "header")


def _fields(message: dict) -> str:
    return "\n".join(f["text"] for b in message["blocks"] for f in b.get("fields", []))


async def test_the_approval_message_says_who_wants_what_in_a_header_and_a_fields_grid(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h incident 4211")
    msg = await approval_message(stack)
    assert _header(msg) == "alice wants prod-db for 1h"
    grid = _fields(msg)
    for part in ("*Role*", "`prod-db`", "*Duration*", "1h", f"<@{ALICE}>", ALICE_EMAIL, "*Expires if undecided*",
                 "<!date^"):
        assert part in grid, part
    assert "Waiting for approval — 0 of 1" in all_text(msg)


async def test_a_second_approval_is_shown_waiting_and_the_decided_message_lists_every_vote_in_order(
        make_stack, clock: ManualClock) -> None:
    stack = await make_stack(TWO_APPROVALS)
    await slash(stack, ALICE, "request two-man 1h deploy")
    msg = await approval_message(stack)
    await click(stack, BOB, msg, APPROVE)
    updated = stack.slack.message(APPROVAL_CHANNEL, msg["ts"])
    assert f"Waiting for approval — 1 of 2: <@{BOB}>" in all_text(updated)
    await advance(stack, clock, timedelta(minutes=1))
    await click(stack, CAROL, updated, APPROVE)
    done = all_text(stack.slack.message(APPROVAL_CHANNEL, msg["ts"]))
    assert done.index(f"<@{BOB}> approved") < done.index(f"<@{CAROL}> approved")


async def test_the_approval_message_follows_its_grant_through_extension_to_its_expiry(
        stack: Stack, clock: ManualClock) -> None:
    await slash(stack, ALICE, "request prod-db 1h incident")
    msg = await approval_message(stack)
    await click(stack, BOB, msg, APPROVE)
    [grant] = await grants(stack, requester=ALICE)
    shown = lambda: all_text(stack.slack.message(APPROVAL_CHANNEL, msg["ts"]))  # noqa: E731
    assert f"Grant `{grant.id}` active since" in shown() and "extended" not in shown()

    await slash(stack, ALICE, f"extend {grant.id} 30m still on it")
    ext = await approval_message(stack)
    assert _header(ext) == "alice wants 30m more on prod-db"
    await click(stack, BOB, ext, APPROVE)
    assert f"Grant `{grant.id}` active since" in shown() and "extended until" in shown()

    await advance(stack, clock, timedelta(hours=1, minutes=30))
    assert f"Grant `{grant.id}` ended" in shown() and "— expired" in shown()


async def test_an_admins_revoke_tells_the_holder_who_and_why_and_the_message_says_who_ended_it(
        stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h incident")
    msg = await approval_message(stack)
    await click(stack, BOB, msg, APPROVE)
    [grant] = await grants(stack, requester=ALICE)
    await slash(stack, DANA, f"revoke {grant.id} laptop reported stolen")
    dms = [m["text"] for m in stack.slack.dms_to(ALICE)]
    assert any(f"<@{DANA}> is revoking your access to *prod-db*" in t and "laptop reported stolen" in t for t in dms)
    assert any(f"was revoked by <@{DANA}>" in t for t in dms)
    assert f"revoked by <@{DANA}>" in all_text(stack.slack.message(APPROVAL_CHANNEL, msg["ts"]))


async def test_the_holders_own_revoke_sends_no_who_and_why_message(stack: Stack) -> None:
    await slash(stack, ALICE, "request staging 1h")
    [grant] = await grants(stack, requester=ALICE)
    await slash(stack, ALICE, f"revoke {grant.id} done")
    dms = [m["text"] for m in stack.slack.dms_to(ALICE)]
    assert not any("is revoking your access" in t for t in dms)
    assert any("was revoked by you" in t for t in dms)


def _confirmed(message: dict, action_id: str) -> bool:
    found = [b for b in buttons(message) if b["action_id"] == action_id]
    return bool(found) and all("confirm" in b and b["style"] == "danger" for b in found)


async def test_every_destructive_button_in_list_and_app_home_asks_to_confirm(stack: Stack) -> None:
    await slash(stack, ALICE, "request staging 1h")
    await slash(stack, ALICE, "request prod-db 1h incident")
    listing = await slash(stack, ALICE, "list")
    assert _confirmed(listing, REVOKE) and _confirmed(listing, CANCEL)
    await stack.driver.app_home_opened(ALICE)
    await settle(stack)
    assert _confirmed(stack.slack.home(ALICE), REVOKE) and _confirmed(stack.slack.home(ALICE), CANCEL)
    await stack.driver.app_home_opened(BOB)
    await settle(stack)
    assert _confirmed(stack.slack.home(BOB), DENY)


async def test_app_home_shows_the_last_ended_grants_with_how_they_ended(stack: Stack, clock: ManualClock) -> None:
    await slash(stack, ALICE, "request staging 1h")
    [grant] = await grants(stack, requester=ALICE)
    await advance(stack, clock, timedelta(hours=1))
    await stack.driver.app_home_opened(ALICE)
    await settle(stack)
    home = all_text(stack.slack.home(ALICE))
    assert "Your recent grants" in home and grant.id in home and "— expired" in home


def _many_roles(n: int) -> str:
    roles = {f"role-{i:02d}": role(PROD_GROUP, description=f"Role {i}", auto_approve=True) for i in range(n)}
    return policy_text(roles, defaults=BASE_DEFAULTS)


async def test_a_long_roles_list_is_paged_and_says_how_many_more_there_are(make_stack) -> None:
    stack = await make_stack(_many_roles(40))
    first = all_text(await slash(stack, ALICE, "roles"))
    assert "page 1 of 3" in first and "…and 25 more: `/access roles 2`" in first
    assert "`role-00`" in first and "`role-15`" not in first
    last = all_text(await slash(stack, ALICE, "roles 3"))
    assert "`role-39`" in last and "more:" not in last
    bad = all_text(await slash(stack, ALICE, "roles two"))
    assert "not a page number" in bad


async def test_a_request_waiting_in_app_home_shows_when_it_was_asked(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h incident")
    req = await only_request(stack, ALICE)
    await stack.driver.app_home_opened(BOB)
    await settle(stack)
    home = all_text(stack.slack.home(BOB))
    assert req.id in home and "asked <!date^" in home


def _extend_values(duration: str, reason: str) -> dict:
    return {"duration": {"value": {"type": "plain_text_input", "value": duration}},
            "reason": {"value": {"type": "plain_text_input", "value": reason}}}


async def _extend_modal(stack: Stack, clock: ManualClock) -> dict:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    await click(stack, BOB, await approval_message(stack), APPROVE)
    await advance(stack, clock, timedelta(minutes=50))
    [warning] = [m for m in stack.slack.dms_to(ALICE) if "ends" in m["text"]]
    await click(stack, ALICE, warning, EXTEND)
    await settle(stack)
    [modal] = stack.slack.modals(ALICE)
    return modal


async def test_the_extend_modal_shows_errors_on_its_fields_and_files_nothing(stack: Stack, clock: ManualClock) -> None:
    modal = await _extend_modal(stack, clock)
    reason_block = next(b for b in modal["blocks"] if b.get("block_id") == "reason")
    assert reason_block["optional"] is False, "prod-db requires a reason"
    resp = await stack.driver.view_submission(ALICE, modal, _extend_values("2x", ""))
    assert resp.json["response_action"] == "errors" and set(resp.json["errors"]) == {"duration", "reason"}
    forged = {**modal, "private_metadata": "g-NOTAGRNT<>"}
    resp = await stack.driver.view_submission(ALICE, forged, _extend_values("1h", "why"))
    assert resp.json["response_action"] == "errors"
    await settle(stack)
    assert await audit(stack, "request.created") and len(await audit(stack, "request.created")) == 1


async def test_an_extension_asked_in_the_modal_beyond_the_maximum_is_refused_by_dm(
        stack: Stack, clock: ManualClock) -> None:
    modal = await _extend_modal(stack, clock)
    await stack.driver.view_submission(ALICE, modal, _extend_values("8h", "long incident"))
    await settle(stack)
    assert any("8h" in m["text"] or "at most" in m["text"] for m in stack.slack.dms_to(ALICE)
               if m["text"].startswith(":warning:"))
    assert len(await audit(stack, "request.created")) == 1


async def test_a_modal_with_more_than_a_hundred_roles_searches_them_as_the_person_types(make_stack) -> None:
    stack = await make_stack(_many_roles(120).replace("auto_approve: true", "auto_approve: true\n    "
                                                      "require_reason: false"))
    await stack.driver.slash(ALICE, "")
    await settle(stack)
    [modal] = stack.slack.modals(ALICE)
    menu = next(b["element"] for b in modal["blocks"] if b.get("block_id") == "role")
    assert menu["type"] == "external_select" and "120 roles" in menu["placeholder"]["text"]
    resp = await stack.driver.suggest(ALICE, modal, "role", menu["action_id"], "role-11")
    assert resp.status == 200
    found = [o["value"] for o in resp.json["options"]]
    assert found[0] == "role-11" and all(v.startswith("role-11") for v in found) and len(found) == 11
    everything = await stack.driver.suggest(ALICE, modal, "role", menu["action_id"], "")
    assert len(everything.json["options"]) == 100, "at most Slack's 100 options"
    choice = resp.json["options"][0]
    await stack.driver.view_submission(ALICE, modal, {
        "role": {menu["action_id"]: {"type": "external_select", "selected_option": choice}},
        "duration": {"value": {"type": "plain_text_input", "value": "30m"}},
        "reason": {"value": {"type": "plain_text_input", "value": ""}}})
    await settle(stack)
    [grant] = await grants(stack, requester=ALICE)
    assert grant.role == "role-11"
