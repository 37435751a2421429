"""The typed effects and their outbox codec: today's stored rows still decode, every type round-trips, and
each Slack effect's key names its conversation."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.effects import (
    ADMINS_KEY,
    AUDIT_KEY,
    LANE_CF_ADD,
    LANE_CF_REMOVE,
    LANE_OTHER,
    REGISTRY,
    AskOnCall,
    BreakGlassReview,
    Effect,
    EscalateRequest,
    NotifyAdmins,
    NotifyApprovers,
    NotifyThread,
    NotifyUser,
    PostApproval,
    PostAuditSummary,
    RefreshApprovalMessage,
    RefreshHome,
    RemindApprovers,
    RevokeSessions,
    SyncGroup,
    UndecodableEffect,
    decode,
    dm_key,
    encode,
    request_key,
)

_TEXT = st.text(max_size=12)
_BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "str": _TEXT,
    "str | None": st.none() | _TEXT,
    "int": st.integers(min_value=1, max_value=2**53),
    "bool": st.booleans(),
    "tuple[str, ...]": st.lists(_TEXT, max_size=4).map(tuple),
    "tuple[str, ...] | None": st.none() | st.lists(_TEXT, max_size=4).map(tuple),
}


def effects_of(cls: type[Effect]) -> st.SearchStrategy[Effect]:
    """Any value of one effect type, every field drawn (optional ones None or not)."""
    return st.builds(cls, **{f.name: _BY_TYPE[str(f.type)] for f in dataclasses.fields(cls)})


def stored(effect: Effect) -> tuple[str, dict[str, Any]]:
    """The kind and payload as they come back out of the database's JSON column."""
    kind, payload, _, _ = encode(effect)
    return kind, json.loads(json.dumps(payload))


@pytest.mark.parametrize("cls", list(REGISTRY.values()), ids=list(REGISTRY))
@given(data=st.data())
def test_every_effect_type_decodes_to_itself_after_a_trip_through_the_outbox(cls: type[Effect],
                                                                             data: st.DataObject) -> None:
    effect = data.draw(effects_of(cls))
    back = decode(*stored(effect))
    assert back == effect
    assert encode(back)[:3] == encode(effect)[:3]


# Rows exactly as the code before typed effects wrote them (kind, payload), and what they mean now.
OLD_ROWS: list[tuple[str, dict[str, Any], Effect]] = [
    ("cf.sync", {"account_id": "a1", "group_id": "g1"}, SyncGroup("a1", "g1")),
    ("cf.revoke_sessions", {"account_id": "a1", "email": "al@x.io", "grant_id": "g-1"},
     RevokeSessions("a1", "al@x.io", "g-1")),
    ("approval.post", {"request_id": "r-1"}, PostApproval("r-1")),
    ("approval.refresh", {"request_id": "r-1"}, RefreshApprovalMessage("r-1")),
    ("notify.approvers", {"request_id": "r-1", "event": "denied", "except": "U0BOB"},
     NotifyApprovers("r-1", "denied", except_="U0BOB")),
    ("notify.approvers", {"request_id": "r-1", "event": "expired"}, NotifyApprovers("r-1", "expired")),
    ("notify.thread", {"request_id": "r-1", "event": "revoke_requested", "grant_id": "g-1", "by": "U0BOB",
                       "note": "done"},
     NotifyThread("r-1", "revoke_requested", grant_id="g-1", by="U0BOB", note="done")),
    ("notify.thread", {"request_id": "r-1", "event": "warned", "grant_id": "g-1"},
     NotifyThread("r-1", "warned", grant_id="g-1")),
    ("notify.user", {"user": "U0AL", "event": "extended", "grant_id": "g-1", "request_id": "r-2"},
     NotifyUser("U0AL", "extended", grant_id="g-1", request_id="r-2")),
    ("notify.user", {"user": "U0AL", "event": "failed", "grant_id": "g-1", "stage": "apply"},
     NotifyUser("U0AL", "failed", grant_id="g-1", stage="apply")),
    ("notify.user", {"event": "approval_not_posted", "request_id": "r-1", "role": "db", "error": "no",
                     "user": "U0AL"},
     NotifyUser("U0AL", "approval_not_posted", request_id="r-1", role="db", error="no")),
    ("notify.admins", {"event": "drift", "summary": "group g1"}, NotifyAdmins("drift", summary="group g1")),
    ("notify.admins", {"event": "revoke_recovered", "account_id": "a1", "group_id": "g1"},
     NotifyAdmins("revoke_recovered", account_id="a1", group_id="g1")),
    ("notify.admins", {"event": "grant_failed", "grant_id": "g-1", "stage": "revoke", "error": "403"},
     NotifyAdmins("grant_failed", grant_id="g-1", stage="revoke", error="403")),
    ("notify.admins", {"event": "sessions_failed", "grant_id": "g-1", "error": "403"},
     NotifyAdmins("sessions_failed", grant_id="g-1", error="403")),
    ("notify.admins", {"event": "revoke_failing", "account_id": "a1", "group_id": "g1", "grants": ["g-1", "g-2"],
                       "error": "503", "since": "2026-01-01T09:00:00+00:00"},
     NotifyAdmins("revoke_failing", account_id="a1", group_id="g1", grants=("g-1", "g-2"), error="503",
                  since="2026-01-01T09:00:00+00:00")),
    ("notify.admins", {"event": "approval_not_posted", "request_id": "r-1", "role": "db", "error": "no"},
     NotifyAdmins("approval_not_posted", request_id="r-1", role="db", error="no")),
    ("audit.summary", {"seq": 42}, PostAuditSummary(42)),
    ("home.refresh", {"users": ["U0AL"], "approvers_of": "r-1"}, RefreshHome(("U0AL",), "r-1")),
    ("home.refresh", {"users": ["U0AL"], "approvers_of": None}, RefreshHome(("U0AL",), None)),
    # issue 11: reminders, escalation, break-glass review
    ("approval.remind", {"request_id": "r-1", "nth": 2}, RemindApprovers("r-1", 2)),
    ("approval.escalate", {"request_id": "r-1"}, EscalateRequest("r-1")),
    ("breakglass.review", {"grant_id": "g-1", "nth": 0}, BreakGlassReview("g-1", 0)),
    ("oncall.ask", {"request_id": "r-1"}, AskOnCall("r-1")),
    ("notify.user", {"user": "U0AL", "event": "oncall_approved", "request_id": "r-1", "role": "db",
                     "schedule": "PSCHED1"},
     NotifyUser("U0AL", "oncall_approved", request_id="r-1", role="db", schedule="PSCHED1")),
]


@pytest.mark.parametrize(("kind", "payload", "effect"), OLD_ROWS, ids=[f"{k}-{i}" for i, (k, _, _) in
                                                                        enumerate(OLD_ROWS)])
def test_rows_owed_before_the_upgrade_decode_and_are_written_the_same_way_now(kind: str, payload: dict[str, Any],
                                                                               effect: Effect) -> None:
    assert decode(kind, payload) == effect
    assert stored(effect) == (kind, payload)


def test_every_effect_type_has_an_old_row_in_the_compatibility_table() -> None:
    assert {kind for kind, _, _ in OLD_ROWS} == set(REGISTRY)


def test_a_row_of_an_unknown_kind_or_missing_a_required_field_is_undecodable() -> None:
    with pytest.raises(UndecodableEffect, match="unknown effect kind"):
        decode("slack.shout", {"request_id": "r-1"})
    with pytest.raises(UndecodableEffect, match="lacks 'user'"):
        decode("notify.user", {"event": "approved"})


def test_payload_keys_this_version_does_not_know_are_ignored() -> None:
    assert decode("notify.user", {"user": "U0AL", "event": "approved", "users": []}) == NotifyUser("U0AL", "approved")
    assert decode("home.refresh", {"users": ["U0AL"]}) == RefreshHome(("U0AL",), None)


def test_one_persons_dms_share_a_key_and_two_peoples_do_not() -> None:
    assert NotifyUser("U0AL", "approved").key == NotifyUser("U0AL", "expired", grant_id="g-1").key == dm_key("U0AL")
    assert NotifyUser("U0AL", "approved").key != NotifyUser("U0BOB", "approved").key


def test_everything_about_one_requests_approval_message_shares_the_requests_key() -> None:
    keys = {e.key for e in (PostApproval("r-1"), RefreshApprovalMessage("r-1"), NotifyThread("r-1", "granted"),
                            NotifyApprovers("r-1", "denied"))}
    assert keys == {request_key("r-1")}
    assert PostApproval("r-2").key != PostApproval("r-1").key


def test_no_slack_effect_uses_the_one_shared_slack_key_any_more() -> None:
    assert NotifyAdmins("drift").key == ADMINS_KEY
    assert PostAuditSummary(1).key == AUDIT_KEY
    assert RefreshHome(("U0AL",), None).key == "slack:home:U0AL"
    slack_keys = {encode(e).key for _, _, e in OLD_ROWS if not e.CLOUDFLARE}
    assert "slack" not in slack_keys
    assert all(key.startswith("slack:") for key in slack_keys)


def test_removals_are_claimed_first_then_adds_and_slack_notices_last() -> None:
    assert encode(SyncGroup("a", "g", removal=True)).lane == LANE_CF_REMOVE
    assert encode(SyncGroup("a", "g")).lane == LANE_CF_ADD
    assert encode(RevokeSessions("a", "e@x.io", "g-1")).lane == LANE_CF_REMOVE
    assert {encode(e).lane for _, _, e in OLD_ROWS if not e.CLOUDFLARE} == {LANE_OTHER}


def test_a_group_sync_is_keyed_by_its_group_and_the_removal_flag_is_not_stored() -> None:
    kind, payload, key, _ = encode(SyncGroup("a1", "g1", removal=True))
    assert (kind, payload, key) == ("cf.sync", {"account_id": "a1", "group_id": "g1"}, "cf:a1:g1")
