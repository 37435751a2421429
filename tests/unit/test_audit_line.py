"""Every field of an audit-channel line is escaped, whatever reached the audit row."""

from __future__ import annotations

from bot.slack.notifier import audit_line
from tests.scenario.helpers import live_markup


def test_an_audit_line_built_from_forged_values_cannot_ping_link_or_format() -> None:
    forged = "x`<!channel>` <https://evil.example|click> *bold*"
    row = {"seq": 7, "actor": "<!here>", "action": "approval.refused", "role": forged, "subject": forged,
           "request_id": forged, "grant_id": forged,
           "details": {"reason": forged, "code": forged, "choice": forged}}
    line = audit_line(row)
    assert live_markup(line) == [], (live_markup(line), line)
    assert "approval.refused" in line
