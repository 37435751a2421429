"""Scheduled starts on the Slack surfaces: the modal's start field, the approval message, `/access list`, the DMs
and the words of the filing outcomes (Slack's `<!date^…>` so each reader sees their own timezone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.domain.model import AccessRequest, RequestState
from bot.domain.outcomes import ScheduledFiled
from bot.domain.policy import Role
from bot.domain.wording import explain
from bot.simulators.block_kit import block_kit_errors, view_errors
from bot.slack import blocks as bk
from bot.slack.approval_view import approval_message
from bot.slack.modal import read_submission, request_modal
from bot.slack.notifier import scheduled_message
from bot.slack.render import slack_text

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
START = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
ROLE = Role("prod-db", "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60", "1234567890abcdef1234567890abcdef",
            approvers=("U0APPR01",))


def _request(state: RequestState = RequestState.PENDING, **fields: object) -> AccessRequest:
    return AccessRequest("r-AAAA2222", "prod-db", "U0ALICE", "alice@example.com", timedelta(hours=2), "release",
                         NOW, NOW + timedelta(hours=24), state=state, starts_at=START, **fields)


def _picked(at: object) -> dict:
    return {"role": {"value": {"type": "static_select", "selected_option": {"value": "prod-db"}}},
            "reason": {"value": {"type": "plain_text_input", "value": "release"}},
            "starts": {"value": {"type": "datetimepicker", "selected_date_time": at}}}


def test_the_modal_has_an_optional_start_field_that_slack_accepts() -> None:
    modal = request_modal([ROLE])
    [starts] = [b for b in modal["blocks"] if b.get("block_id") == "starts"]
    assert starts["optional"] and starts["element"]["type"] == "datetimepicker"
    assert view_errors(modal) == []
    View(**modal).validate_json()


def test_the_simulator_refuses_a_datetimepicker_slack_would_refuse() -> None:
    modal = request_modal([ROLE])
    modal["blocks"][-1]["element"]["initial_date_time"] = "tomorrow"
    assert any("initial_date_time" in e for e in view_errors(modal))


def test_a_picked_start_is_read_as_utc_and_a_past_or_malformed_one_is_refused_on_the_field() -> None:
    fields, errors = read_submission(_picked(int(START.timestamp())), {"prod-db": ROLE}, NOW)
    assert errors == {} and fields["start"] == "2026-12-08T08:00:00Z"
    _, errors = read_submission(_picked(int((NOW - timedelta(minutes=1)).timestamp())), {"prod-db": ROLE}, NOW)
    assert "future" in errors["starts"]
    for junk in ("soon", True, -5, 10**12):
        _, errors = read_submission(_picked(junk), {"prod-db": ROLE}, NOW)
        assert set(errors) == {"starts"}
    fields, errors = read_submission({k: v for k, v in _picked(0).items() if k != "starts"}, {"prod-db": ROLE}, NOW)
    assert errors == {} and fields["start"] is None


def test_the_approval_message_says_when_access_starts() -> None:
    msg = approval_message(_request(), ROLE)
    grid = "\n".join(f["text"] for b in msg["blocks"] for f in b.get("fields", []))
    assert f"*Starts*\n<!date^{int(START.timestamp())}^" in grid
    assert block_kit_errors(msg["blocks"]) == []
    for b in msg["blocks"]:
        Block.parse(b).validate_json()
    done = approval_message(_request(RequestState.SCHEDULED, decided_by="U0APPR01", decided_at=NOW), ROLE)
    last = done["blocks"][-1]["text"]["text"]
    assert "Approved ahead" in last and "access is applied <!date^" in last


def test_a_start_refused_at_its_start_is_not_shown_as_cancelled_by_the_requester() -> None:
    req = _request(RequestState.CANCELLED, decided_by="system", decided_at=START,
                   decision_note="your Slack account is deactivated")
    last = approval_message(req, ROLE)["blocks"][-1]["text"]["text"]
    assert "Not started" in last and "deactivated" in last and "by the requester" not in last


def test_list_shows_a_scheduled_request_with_its_start_and_a_cancel_button() -> None:
    blocks = bk.grants_and_requests([], [_request(RequestState.SCHEDULED)], NOW)
    line = blocks[-1]
    assert "starts <!date^" in line["text"]["text"] and "scheduled" in line["text"]["text"]
    assert line["accessory"]["action_id"] == bk.CANCEL and line["accessory"]["value"] == "r-AAAA2222"


def test_the_requester_is_told_of_each_turn_of_a_scheduled_start() -> None:
    assert "starts <!date^" in scheduled_message("scheduled", _request(RequestState.SCHEDULED))
    refused = _request(RequestState.CANCELLED, decision_note="<!channel> you are not on the list")
    text = scheduled_message("start_refused", refused)
    assert "not applied" in text and "<!channel>" not in text
    assert "window" in scheduled_message("start_missed", _request(RequestState.EXPIRED))


def test_the_filing_answer_shows_the_start_in_each_readers_timezone_on_slack_and_in_utc_elsewhere() -> None:
    out = ScheduledFiled("r-AAAA2222", "prod-db", timedelta(hours=2), 1, START, "Europe/Berlin", True)
    assert f"<!date^{int(START.timestamp())}^" in slack_text(out)
    assert "2026-12-08 08:00 UTC" in explain(out) and "<!date" not in explain(out)
    unknown = ScheduledFiled("r-AAAA2222", "prod-db", timedelta(hours=2), 1, START, "UTC", False)
    assert "read as UTC" in explain(unknown)


async def test_the_command_reads_at_time_after_the_role_or_the_duration_and_leaves_other_ats_in_the_reason() -> None:
    from bot.slack.commands import handle
    from tests.unit.services.world import make_world

    cases = {
        "request prod-db at 14:00 release": (datetime(2026, 1, 1, 14, 0, tzinfo=UTC), "release", 60),
        "request prod-db 2h at tomorrow 09:00 x y": (datetime(2026, 1, 2, 9, 0, tzinfo=UTC), "x y", 120),
        "request prod-db 2h look at 14:00": (None, "look at 14:00", 120),
        "request prod-db 2h at logs": (None, "at logs", 120),
    }
    for text, (start, reason, minutes) in cases.items():
        world = make_world()
        reply = await handle(world.deps, "U0ALICE", text)
        assert not reply.text.startswith(":warning:"), (text, reply.text)
        async with world.store.tx() as tx:
            [req] = await tx.requests.pending()
        assert (req.starts_at, req.reason, req.duration) == (start, reason, timedelta(minutes=minutes)), text
    world = make_world()
    reply = await handle(world.deps, "U0ALICE", "request prod-db 2h at 2026-02-30 09:00 x")
    assert reply.text.startswith(":warning:") and "not a date" in reply.text
