"""bot.slack.request_log: what a Slack request is called in its log line, without what a person typed."""

from __future__ import annotations

import pytest

from bot.slack.request_log import kind_of, name_of


@pytest.mark.parametrize(("body", "kind", "name"), [
    ({"command": "/access", "text": "request prod-db 1h my secret reason"}, "command", "/access request"),
    ({"command": "/access", "text": "xoxb-123-pasted-by-mistake"}, "command", "/access"),
    ({"command": "/access", "text": ""}, "command", "/access"),
    ({"type": "block_actions", "actions": [{"action_id": "access_approve", "value": "r-1"}]}, "action",
     "access_approve"),
    ({"type": "view_submission", "view": {"callback_id": "access_request_modal"}}, "view", "access_request_modal"),
    ({"type": "event_callback", "event": {"type": "app_home_opened"}}, "event", "app_home_opened"),
    ({"type": "shortcut", "callback_id": "x"}, "shortcut", None),
    ({"type": None}, "unknown", None),
    ("not a dict", "unknown", None),
])
def test_kind_and_name_of_a_slack_request(body: object, kind: str, name: str | None) -> None:
    assert (kind_of(body), name_of(body)) == (kind, name)
