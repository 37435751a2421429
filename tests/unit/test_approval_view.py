"""The approval message and the lists as pure functions: headline, grid, status, votes, grant lines, confirms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.model import AccessRequest, Grant, GrantState, RequestKind, RequestState, Vote, VoteChoice
from bot.domain.policy import Policy, Role
from bot.simulators.block_kit import block_kit_errors
from bot.slack.approval_view import HEADER_LIMIT, approval_message, grant_line, headline
from bot.slack.blocks import LIST_SHOWN, ROLES_PER_PAGE, grants_and_requests, roles_text

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROLE = Role(name="prod-db", group_id="g", account_id="a", approvers=("U1", "U2"), approvals_required=2)


def _req(state: RequestState = RequestState.PENDING, votes: list[Vote] | None = None,
         kind: RequestKind = RequestKind.NEW) -> AccessRequest:
    return AccessRequest("r-AAAA2222", "prod-db", "U9", "ada@x.io", timedelta(hours=2), "why", NOW,
                         NOW + timedelta(days=1), state=state, kind=kind, votes=votes or [],
                         grant_id="g-BBBB3333" if kind is RequestKind.EXTEND else None,
                         decided_by="U1" if state is not RequestState.PENDING else None,
                         decided_at=NOW if state is not RequestState.PENDING else None)


def _grant(state: GrantState, **kw) -> Grant:
    base = dict(granted_at=NOW, expires_at=NOW + timedelta(hours=2))
    return Grant("g-BBBB3333", "r-AAAA2222", "prod-db", "U9", "ada@x.io", "a", "g", timedelta(hours=2), NOW,
                 state=state, **{**base, **kw})


def _vote(voter: str, minutes: int, choice: VoteChoice = VoteChoice.APPROVE) -> Vote:
    return Vote("r-AAAA2222", voter, choice, NOW + timedelta(minutes=minutes))


def _texts(msg: dict) -> str:
    out = []
    for b in msg["blocks"]:
        out.append((b.get("text") or {}).get("text", ""))
        out += [f["text"] for f in b.get("fields", [])]
        out += [e.get("text", "") for e in b.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(out)


def test_the_headline_names_the_person_the_role_and_the_length() -> None:
    assert headline(_req(), "Ada") == "Ada wants prod-db for 2h"
    assert headline(_req(kind=RequestKind.EXTEND), "Ada") == "Ada wants 2h more on prod-db"


def test_the_headline_falls_back_to_the_email_when_the_name_is_unknown() -> None:
    assert headline(_req(), None) == "ada@x.io wants prod-db for 2h"
    assert headline(_req(), "   ") == "ada@x.io wants prod-db for 2h"


@given(st.text(max_size=400))
def test_any_name_makes_a_valid_header_within_its_limit(name: str) -> None:
    msg = approval_message(_req(), ROLE, requester_name=name)
    assert len(headline(_req(), name)) <= HEADER_LIMIT
    assert block_kit_errors(msg["blocks"]) == []


def test_a_pending_message_shows_the_grid_and_how_many_approvals_are_still_needed() -> None:
    msg = approval_message(_req(votes=[_vote("U1", 1)]), ROLE, requester_name="Ada")
    text = _texts(msg)
    assert "*Expires if undecided*" in text and "ada@x.io" in text and "`prod-db`" in text
    assert "Waiting for approval — 1 of 2: <@U1>" in text
    assert block_kit_errors(msg["blocks"]) == []


def test_a_decided_message_lists_every_vote_in_the_order_cast() -> None:
    votes = [_vote("U2", 5), _vote("U1", 1)]
    text = _texts(approval_message(_req(RequestState.APPROVED, votes), ROLE, _grant(GrantState.ACTIVE)))
    assert text.index("<@U1> approved") < text.index("<@U2> approved")
    assert "Expires if undecided" not in text


def test_the_status_follows_the_grant_from_applied_through_extended_to_ended() -> None:
    assert "being applied" in grant_line(_grant(GrantState.PENDING, granted_at=None, expires_at=None))
    assert "active since" in grant_line(_grant(GrantState.ACTIVE)) and "extended" not in grant_line(
        _grant(GrantState.ACTIVE))
    assert "extended until" in grant_line(_grant(GrantState.ACTIVE, expires_at=NOW + timedelta(hours=3)))
    assert "— expired" in grant_line(_grant(GrantState.REVOKED, revoked_at=NOW, revoke_reason="expired"))
    assert "revoked by <@U7>" in grant_line(_grant(GrantState.REVOKED, revoked_at=NOW, revoke_reason="admin",
                                                   revoke_actor="U7"))
    assert "command line" in grant_line(_grant(GrantState.REVOKED, revoked_at=NOW, revoke_reason="cli",
                                               revoke_actor="cli"))


def test_every_destructive_button_in_the_list_has_a_confirm() -> None:
    grants = [_grant(GrantState.ACTIVE)]
    blocks = grants_and_requests(grants, [_req()], NOW)
    accessories = [b["accessory"] for b in blocks if "accessory" in b]
    assert accessories and all(a["style"] == "danger" and a["confirm"]["deny"]["text"] == "Back"
                               for a in accessories)
    assert block_kit_errors(blocks) == []


def test_a_cut_list_says_how_many_more_there_are() -> None:
    grants = [_grant(GrantState.ACTIVE) for _ in range(LIST_SHOWN + 4)]
    blocks = grants_and_requests(grants, [], NOW)
    assert any("…and 4 more" in e["text"] for b in blocks if b["type"] == "context" for e in b["elements"])
    assert block_kit_errors(blocks) == []


def test_the_roles_list_pages_and_a_page_past_the_end_shows_the_last() -> None:
    roles = [Role(name=f"r{i}", group_id="g", account_id="a", approvers=("U1",)) for i in range(ROLES_PER_PAGE + 3)]
    policy = Policy(roles={r.name: r for r in roles})
    first = roles_text(policy, roles)
    assert "…and 3 more: `/access roles 2`" in first and "`r0`" in first
    assert roles_text(policy, roles, 9) == roles_text(policy, roles, 2)
    assert "more:" not in roles_text(policy, roles, 2)


def test_audit_lines_and_alerts_show_times_in_each_readers_timezone() -> None:
    from bot.domain.effects import NotifyAdmins
    from bot.slack.blocks import audit_text
    from bot.slack.notifier import admin_text

    row = {"seq": 7, "at": "2026-01-01T09:30:00+00:00", "actor": "U1", "action": "grant.applied"}
    assert f"<!date^{int(datetime(2026, 1, 1, 9, 30, tzinfo=UTC).timestamp())}^" in audit_text([row], "")
    alert = admin_text(NotifyAdmins("revoke_failing", group_id="g", grants=("g-BBBB3333",), error="503",
                                    since=NOW.isoformat()))
    assert f"<!date^{int(NOW.timestamp())}^" in alert
    assert "<!here>" not in audit_text([{**row, "at": "not a time <!here>"}], "")


@given(st.text(max_size=300))
def test_a_role_search_answers_at_most_a_hundred_valid_options_for_any_text(query: str) -> None:
    from bot.slack.modal import role_options

    roles = [Role(name=f"r{i}", group_id="g", account_id="a", approvers=("U1",), description=f"desc {i}")
             for i in range(150)]
    options = role_options(roles, query)
    assert len(options) <= 100
    assert block_kit_errors([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": {
        "type": "static_select", "action_id": "a", "options": options}}]) == [] or not options


def test_a_role_search_puts_names_starting_with_the_text_first() -> None:
    from bot.slack.modal import role_options

    roles = [Role(name=n, group_id="g", account_id="a", approvers=("U1",), description=d)
             for n, d in (("analytics", "db reader"), ("db", "the database"), ("db-admin", ""))]
    assert [o["value"] for o in role_options(roles, "db")] == ["db", "db-admin", "analytics"]
    assert [o["value"] for o in role_options(roles, "DB ADMIN")] == ["db-admin"]
