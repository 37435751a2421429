"""The break-glass review message and the reminder notes are valid Block Kit: the simulator's checks (Slack's
limits) and slack_sdk's own models; the destructive button asks first; typed text stays inert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block

from bot.config.policy_file import parse_policy
from bot.domain.model import AccessRequest, Grant, GrantState
from bot.simulators.block_kit import block_kit_errors, message_text_errors
from bot.slack.blocks import roles_text
from bot.slack.incident_blocks import BG_REVOKE, escalation_text, loud_line, reminder_text, review_message
from tests.policies import policy_text, role

T0 = datetime(2026, 12, 7, 9, tzinfo=UTC)
LONG = "r" * 63


def _grant(**kw: object) -> Grant:
    base = dict(id="g-AAAA2222", request_id="r-AAAA2222", role=LONG, requester="U0ALICE", email="a@x.io",
                account_id="a" * 32, group_id="g", duration=timedelta(minutes=30), created_at=T0,
                state=GrantState.ACTIVE, granted_at=T0, expires_at=T0 + timedelta(minutes=30), break_glass=True)
    return Grant(**{**base, **kw})  # type: ignore[arg-type]


def _request(reason: str = "<!channel> db down & *burning*") -> AccessRequest:
    return AccessRequest("r-AAAA2222", LONG, "U0ALICE", "a@x.io", timedelta(minutes=30), reason, T0,
                         T0 + timedelta(hours=4))


def _valid(message: dict) -> None:
    assert block_kit_errors(message["blocks"]) == [] and message_text_errors(message["text"]) == []
    for block in Block.parse_all(message["blocks"]):
        block.validate_json()


@pytest.mark.parametrize("nth", [0, 3])
def test_the_review_message_is_valid_and_revoke_now_asks_first(nth: int) -> None:
    message = review_message(_grant(), _request("x" * 5000), nth)
    _valid(message)
    actions = message["blocks"][-1]
    revoke = next(e for e in actions["elements"] if e["action_id"] == BG_REVOKE)
    assert revoke["style"] == "danger" and revoke["confirm"]["confirm"]["text"] == "Revoke now"
    assert all(len(e["text"]["text"]) <= 75 for e in actions["elements"])
    assert ("Reminder 3" in str(message["blocks"][0])) == (nth == 3)


def test_an_acknowledged_review_has_no_buttons_and_says_who() -> None:
    message = review_message(_grant(acknowledged_by="U0ADMIN1", acknowledged_at=T0), _request())
    _valid(message)
    assert all(b["type"] != "actions" for b in message["blocks"])
    assert "<@U0ADMIN1>" in str(message["blocks"][-1])


def test_the_reason_is_plain_text_and_cannot_ping() -> None:
    message = review_message(_grant(), _request())
    reason = next(b for b in message["blocks"] if "Reason" in str(b))
    assert reason["text"]["type"] == "plain_text"


def test_the_audit_channel_announcement_keeps_the_typed_reason_inert() -> None:
    line = loud_line(_grant(), _request())
    assert "<!channel>" not in line and "&lt;!channel&gt;" in line and "Break-glass" in line


def test_reminder_and_escalation_notes_name_people_and_stay_within_a_message() -> None:
    many = [f"U0P{i:04d}" for i in range(80)]
    text = reminder_text(_request(), 2, many)
    assert "Reminder 2" in text and "<@U0P0000>" in text and "and 50 more" in text
    assert message_text_errors(text) == []
    assert "<!subteam^S0LEADS>" in escalation_text(_request(), ("S0LEADS", "U0CTO"))


def test_access_roles_says_which_roles_have_break_glass_and_its_limit() -> None:
    policy = parse_policy(policy_text({
        "db": role("0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60", approvers=["U0A1"], break_glass=True,
                   break_glass_max_duration="20m"),
        "web": role("0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60", approvers=["U0A1"])}))
    text = roles_text(policy, list(policy.roles.values()))
    db_line, web_line = text.split("• ")[1:]
    assert "break-glass up to 20m: `/access breakglass db REASON`" in db_line and "break-glass" not in web_line
