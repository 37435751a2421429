"""`/access list`, `cancel`, `revoke`, `roles`, `help`, `extend`, `pending` (spec §3)."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState, RequestState
from bot.simulators.stack import STAGING_GROUP, Stack
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVAL_CHANNEL,
    BOB,
    CANCEL,
    CAROL,
    REVOKE,
    advance,
    all_text,
    approval_message,
    audit,
    buttons,
    click,
    emails,
    grants,
    has_buttons,
    only_request,
    request,
    settle,
    slash,
)


async def test_list_shows_active_grants_with_revoke_and_pending_requests_with_cancel(stack: Stack) -> None:
    await slash(stack, ALICE, "request staging 2h")
    await slash(stack, ALICE, "request prod-db 1h deploy")
    [grant] = await grants(stack)
    req = await only_request(stack, ALICE)
    listing = await slash(stack, ALICE, "list")
    by_action = {(b["action_id"], b["value"]) for b in buttons(listing)}
    assert by_action == {(REVOKE, grant.id), (CANCEL, req.id)}
    text = all_text(listing)
    assert "staging" in text and "2h left" in text and "prod-db" in text


async def test_list_says_so_when_there_is_nothing(stack: Stack) -> None:
    listing = await slash(stack, ALICE, "list")
    assert buttons(listing) == [] and "no grants" in all_text(listing)


async def test_clicking_revoke_in_the_list_removes_the_email_at_cloudflare(stack: Stack) -> None:
    await slash(stack, ALICE, "request staging 2h")
    assert ALICE_EMAIL in emails(stack, STAGING_GROUP)
    listing = await slash(stack, ALICE, "list")
    answer = await click(stack, ALICE, listing, REVOKE)
    assert answer is not None and "revoked" in all_text(answer)
    assert ALICE_EMAIL not in emails(stack, STAGING_GROUP)
    [grant] = await grants(stack)
    assert grant.state is GrantState.REVOKED
    [revoked] = await audit(stack, "grant.revoked")
    assert revoked["details"]["reason"] == "manual" and revoked["actor"] == ALICE
    assert [m for m in stack.slack.dms_to(ALICE) if "was revoked" in m["text"]]


async def test_revoke_command_ends_the_callers_grant_now(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    await click(stack, BOB, await approval_message(stack), "access_approve")
    [grant] = await grants(stack)
    await slash(stack, ALICE, f"revoke {grant.id.lower()} done early")  # IDs are forgiven their case
    [grant] = await grants(stack)
    assert grant.state is GrantState.REVOKED and ALICE_EMAIL not in emails(stack)
    assert stack.cloudflare.revoked_users, "prod-db ends the person's Access sessions"


async def test_clicking_cancel_in_the_list_withdraws_the_request(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    req = await only_request(stack, ALICE)
    listing = await slash(stack, ALICE, "list")
    await click(stack, ALICE, listing, CANCEL)
    assert (await request(stack, req.id)).state is RequestState.CANCELLED


async def test_cancel_withdraws_a_pending_request_and_updates_the_approval_message(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    req = await only_request(stack, ALICE)
    msg = await approval_message(stack)
    reply = await slash(stack, ALICE, f"cancel {req.id}")
    assert "cancelled" in all_text(reply)
    assert (await request(stack, req.id)).state is RequestState.CANCELLED
    updated = stack.slack.message(APPROVAL_CHANNEL, msg["ts"])
    assert not has_buttons(updated) and "Cancelled" in all_text(updated)
    [cancelled] = await audit(stack, "request.cancelled")
    assert cancelled["actor"] == ALICE and cancelled["request_id"] == req.id
    again = await slash(stack, ALICE, f"cancel {req.id}")
    assert "already cancelled" in all_text(again)
    assert stack.cloudflare.calls == []


async def test_roles_lists_only_the_roles_the_caller_may_request(stack: Stack) -> None:
    alice = all_text(await slash(stack, ALICE, "roles"))
    assert "`prod-db`" in alice and "`staging`" in alice and "`secrets`" not in alice
    assert "1m–8h" in alice  # limits are shown
    assert "<@U0APPR01>" in alice  # and who approves
    carol = all_text(await slash(stack, CAROL, "roles"))  # in S0ENGINEERS, which may request secrets
    assert "`secrets`" in carol


async def test_help_shows_usage(stack: Stack) -> None:
    for text in ("help", "HELP", "  help  "):
        said = all_text(await slash(stack, ALICE, text))
        for usage in ("/access request ROLE", "/access list", "/access roles", "/access extend", "/access revoke",
                      "/access cancel", "Durations"):
            assert usage in said, (text, usage)
    assert stack.cloudflare.calls == [] and await audit(stack, "request.refused") == []


async def _open_modal(stack: Stack) -> dict:
    await stack.driver.slash(ALICE, "")
    await settle(stack)
    [modal] = stack.slack.modals(ALICE)
    return modal


def _modal_values(modal: dict, role: str, duration: str, reason: str) -> dict:
    """view.state.values for the modal's inputs, found by their labels (Role, Duration, Reason)."""
    values = {}
    for block in modal["blocks"]:
        if block.get("type") != "input":
            continue
        label, element = block["label"]["text"].lower(), block["element"]
        if "role" in label:
            assert role in [o["value"] for o in element["options"]]
            value = {"type": element["type"], "selected_option": {
                "text": {"type": "plain_text", "text": role}, "value": role}}
        else:
            value = {"type": element["type"], "value": duration if "duration" in label else reason}
        values[block["block_id"]] = {element["action_id"]: value}
    return values


async def test_empty_text_opens_the_request_modal_with_role_duration_and_reason(stack: Stack) -> None:
    modal = await _open_modal(stack)
    labels = [b["label"]["text"].lower() for b in modal["blocks"] if b.get("type") == "input"]
    assert any("role" in x for x in labels) and any("duration" in x for x in labels)
    assert any("reason" in x for x in labels)
    roles = next(b["element"] for b in modal["blocks"] if b.get("type") == "input" and "role" in
                 b["label"]["text"].lower())
    assert {o["value"] for o in roles["options"]} == {"prod-db", "staging"}, "only roles the caller may request"


async def test_submitting_the_request_modal_files_the_request(stack: Stack) -> None:
    modal = await _open_modal(stack)
    resp = await stack.driver.view_submission(ALICE, modal, _modal_values(modal, "prod-db", "2h", "from the modal"))
    assert resp.status == 200 and resp.elapsed < 3
    await settle(stack)
    req = await only_request(stack, ALICE)
    assert req.role == "prod-db" and req.duration == timedelta(hours=2) and req.reason == "from the modal"
    await approval_message(stack)


async def test_a_bad_duration_in_the_request_modal_is_shown_on_the_field_and_nothing_is_filed(stack: Stack) -> None:
    modal = await _open_modal(stack)
    resp = await stack.driver.view_submission(ALICE, modal, _modal_values(modal, "prod-db", "2x", "from the modal"))
    assert resp.status == 200 and resp.json and resp.json.get("response_action") == "errors"
    assert any("2x" in str(v) or "duration" in str(v) for v in resp.json["errors"].values())
    await settle(stack)
    assert stack.cloudflare.calls == [] and await audit(stack, "request.created") == []


async def test_a_second_request_for_a_held_role_is_refused_with_a_hint_to_extend(stack: Stack) -> None:
    await slash(stack, ALICE, "request staging 1h")
    reply = await slash(stack, ALICE, "request staging 1h")
    assert "already hold" in all_text(reply) and "/access extend" in all_text(reply)
    assert len(await grants(stack)) == 1
    [refused] = await audit(stack, "request.refused")
    assert refused["details"]["code"] == "already_granted"


async def test_extend_on_an_auto_approve_role_moves_the_expiry(stack: Stack, clock: ManualClock) -> None:
    t0 = clock.now()
    await slash(stack, ALICE, "request staging 1h")
    [grant] = await grants(stack)
    assert grant.expires_at == t0 + timedelta(hours=1)
    reply = await slash(stack, ALICE, f"extend {grant.id} 30m still debugging")
    assert "extended" in all_text(reply)
    [grant] = await grants(stack)
    assert grant.expires_at == t0 + timedelta(hours=1, minutes=30)
    dm = [m for m in stack.slack.dms_to(ALICE) if "now ends" in m["text"]]
    assert len(dm) == 1 and f"<!date^{int(grant.expires_at.timestamp())}^" in dm[0]["text"]
    [extended] = await audit(stack, "grant.extended")
    assert extended["grant_id"] == grant.id and extended["details"]["by"] == "30m"
    # the old expiry passes and nothing is cut short; the new one ends it
    await advance(stack, clock, timedelta(hours=1, seconds=1))
    assert (await grants(stack))[0].state is GrantState.ACTIVE and ALICE_EMAIL in emails(stack, STAGING_GROUP)
    await advance(stack, clock, timedelta(minutes=30))
    assert (await grants(stack))[0].state is GrantState.REVOKED and ALICE_EMAIL not in emails(stack, STAGING_GROUP)


async def test_extend_beyond_the_roles_maximum_is_refused(stack: Stack) -> None:
    await slash(stack, ALICE, "request staging 7h")
    [grant] = await grants(stack)
    reply = await slash(stack, ALICE, f"extend {grant.id} 2h")
    assert "at most 8h" in all_text(reply)
    assert (await grants(stack))[0].expires_at == grant.expires_at


async def test_pending_lists_the_requests_waiting_for_an_approver(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    req = await only_request(stack, ALICE)
    assert req.id in all_text(await slash(stack, BOB, "pending"))
    assert req.id in all_text(await slash(stack, CAROL, "pending"))  # through S0SRETEAM
    assert "No requests" in all_text(await slash(stack, "U0MALLORY", "pending"))


async def test_pending_says_how_to_decide_by_command(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    assert "/access deny REQUEST_ID [REASON…]" in all_text(await slash(stack, BOB, "pending"))


async def test_an_approver_denies_by_command_with_a_reason_the_requester_and_the_message_show(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy <!here>")
    req = await only_request(stack, ALICE)
    msg = await approval_message(stack)
    reply = await slash(stack, BOB, f"deny {req.id.lower()} use the read replica <!channel>")
    assert f"You denied `{req.id}`" in all_text(reply)
    assert (await request(stack, req.id)).state is RequestState.DENIED
    updated = stack.slack.message(APPROVAL_CHANNEL, msg["ts"])
    assert not has_buttons(updated) and "use the read replica" in all_text(updated)
    [dm] = [m for m in stack.slack.dms_to(ALICE) if "denied" in m["text"]]
    assert f"<@{BOB}>" in dm["text"] and "Reason: use the read replica &lt;!channel&gt;" in dm["text"]
    [denied] = await audit(stack, "request.denied")
    assert denied["actor"] == BOB and denied["details"]["note"] == "use the read replica <!channel>"
    assert await grants(stack) == [] and ALICE_EMAIL not in emails(stack)


async def test_an_approver_approves_by_command_and_access_is_granted(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    req = await only_request(stack, ALICE)
    msg = await approval_message(stack)
    reply = await slash(stack, CAROL, f"approve {req.id}")  # an approver through the S0SRETEAM user group
    assert f"You approved `{req.id}`" in all_text(reply)
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE and ALICE_EMAIL in emails(stack)
    assert not has_buttons(stack.slack.message(APPROVAL_CHANNEL, msg["ts"]))


async def test_deciding_by_command_follows_every_click_rule(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    req = await only_request(stack, ALICE)
    await slash(stack, BOB, "request prod-db 1h mine")
    bobs = await only_request(stack, BOB)
    cases = [  # (who, text, words in the reply, audited action and code)
        ("U0MALLORY", f"approve {req.id}", "not an approver", ("approval.refused", "not_an_approver")),
        (BOB, f"approve {bobs.id}", "own request", ("approval.refused", "self_approval")),
        (BOB, "approve r-ZZZZZZ", "no request `r-ZZZZZZ`", ("approval.refused", "unknown_request")),
        (BOB, "deny g-ZZZZZZ", "not a request ID", ("request.refused", "bad_id")),
        (BOB, "approve", "say which one", ("request.refused", "usage")),
    ]
    for who, text, says, (action, code) in cases:
        seq = len(await audit(stack))
        said = all_text(await slash(stack, who, text))
        assert says.lower() in said.lower(), (text, said)
        new = (await audit(stack))[seq:]
        assert [(r["action"], r["details"].get("code"), r["actor"]) for r in new] == [(action, code, who)], text
    assert (await request(stack, req.id)).state is RequestState.PENDING
    await slash(stack, BOB, f"deny {req.id} no")
    said = all_text(await slash(stack, CAROL, f"approve {req.id}"))
    assert "already denied" in said and await grants(stack) == []
