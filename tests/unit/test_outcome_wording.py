"""Every outcome a use case returns has words on every surface; the Slack words escape outside text once."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.api.render import refusal
from bot.cli_render import cli_text
from bot.cli_text import plain
from bot.domain.outcomes import (
    SUCCESSES,
    Acknowledged,
    Approved,
    AutoApproved,
    AutoExtended,
    AutoScheduled,
    BreakGlassGranted,
    Cancelled,
    Denied,
    ExtensionFiled,
    Filed,
    Outcome,
    Refused,
    Revoking,
    ScheduledFiled,
    Voted,
)
from bot.domain.wording import FOR_APPROVER, WORDING, explain
from bot.slack.render import slack_answer, slack_text

ROOT = Path(__file__).resolve().parents[2]
H = timedelta(hours=1)
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LIMITS = {"role": "prod-db", "min": timedelta(minutes=5), "max": 4 * H, "default": H}
IDENTITY = {"identity": "deactivated", "looked_up": "", "error": ""}
LOOKUP = {"identity": "lookup_failed", "looked_up": "Slack profile", "error": "timeout"}
ASKED = {"request_id": "r-AAAA2222", "requester": "U0ALICE", "role": "prod-db"}

# One example of every outcome, by the key its words are found under (its form, else its code).
SAMPLES: dict[str, Outcome] = {
    "already_granted": Refused("already_granted", {"role": "prod-db"}),
    "already_pending": Refused("already_pending", {"role": "prod-db"}),
    "extension_pending": Refused("extension_pending", {"grant_id": "g-AAAA2222", "request_id": "r-BBBB3333"}),
    "not_allowed": Refused("not_allowed", {"role": "prod-db"}),
    "duration_too_short": Refused("duration_too_short", {"duration": timedelta(minutes=1), **LIMITS}),
    "duration_too_long": Refused("duration_too_long", {"duration": 9 * H, **LIMITS}),
    "extension_too_long": Refused("duration_too_long", {"role": "prod-db", "total": 5 * H, "max": 4 * H},
                                  "extension_too_long"),
    "reason_required": Refused("reason_required", {"role": "prod-db", "default": H}),
    "extension_reason_required": Refused("reason_required", {"role": "prod-db", "grant_id": "g-AAAA2222",
                                                             "extra": H}, "extension_reason_required"),
    "not_extendable": Refused("not_extendable", {"grant_id": "g-AAAA2222", "state": "revoked"}),
    "not_an_approver": Refused("not_an_approver", {"role": "prod-db"}),
    "self_approval": Refused("self_approval"),
    "role_removed": Refused("unknown_role", {"role": "old-role"}, "role_removed"),
    "identity": Refused("no_identity", IDENTITY, "identity"),
    "requester_unknown": Refused("lookup_failed", {}, "requester_unknown"),
    "email_changed": Refused("email_changed", {"email_now": "a@new.example", "email_filed": "a@old.example"}),
    "timed_out": Refused("request_expired", {"request_id": "r-AAAA2222", "expired_at": AT, "role": "prod-db",
                                             "timeout": 24 * H}, "timed_out"),
    "no_grant_to_extend": Refused("unknown_grant", {"grant_id": "g-AAAA2222"}, "no_grant_to_extend"),
    "rate_limited": Refused("rate_limited", {"count": 3, "window": timedelta(minutes=10), "again": AT,
                                             "retry_after": timedelta(seconds=42)}),
    "no_such_role": Refused("unknown_role", {"asked": "nope", "roles": ["prod-db", "staging"]}, "no_such_role"),
    "reason_too_long": Refused("reason_too_long", {"length": 40_001, "limit": 40_000}),
    "unknown_grant": Refused("unknown_grant", {"grant_id": "g-ZZZZZZ"}),
    "unknown_request": Refused("unknown_request", {"request_id": "r-ZZZZZZ"}),
    "nothing_to_cancel": Refused("already_decided", {"request_id": "r-AAAA2222", "state": "approved"},
                                 "nothing_to_cancel"),
    "no_such_request": Refused("unknown_request", {"request_id": "r-ZZZZZZ"}, "no_such_request"),
    "already_decided": Refused("already_decided", {"request_id": "r-AAAA2222", "state": "denied",
                                                   "decided_by": "U0APPR01"}),
    "click_too_late": Refused("request_expired", {"request_id": "r-AAAA2222", "requester": "U0ALICE"},
                              "click_too_late"),
    "recheck_failed": Refused("lookup_failed", {"request_id": "r-AAAA2222"}, "recheck_failed",
                              Refused("lookup_failed", LOOKUP, "identity")),
    "already_voted": Refused("already_voted"),
    "closed_on_recheck": Refused("no_identity", ASKED, "closed_on_recheck", Refused("no_identity", IDENTITY,
                                                                                     "identity")),
    "cannot_approve_now": Refused("already_granted", {"request_id": "r-AAAA2222"}, "cannot_approve_now",
                                  Refused("already_granted", {"role": "prod-db"})),
    "not_active": Refused("not_active", {"grant_id": "g-AAAA2222", "state": "revoked"}),
    "no_longer_active": Refused("not_extendable", {"grant_id": "g-AAAA2222"}, "no_longer_active"),
    "grant_moved": Refused("not_extendable", {"grant_id": "g-AAAA2222"}, "grant_moved"),
    "not_admin": Refused("not_admin"),
    "no_longer_on_call": Refused("no_longer_on_call", {"role": "prod-db", "schedule": "PSCHED1",
                                                       "unavailable": False}),
    "filed": Filed("r-AAAA2222", "prod-db", 2 * H, 1),
    "extension_filed": ExtensionFiled("r-AAAA2222", "g-AAAA2222", H),
    "auto_approved": AutoApproved("r-AAAA2222", "g-AAAA2222", "staging", H),
    "auto_extended": AutoExtended("r-AAAA2222", "g-AAAA2222", H),
    "cancelled": Cancelled("r-AAAA2222"),
    "revoking": Revoking("g-AAAA2222", "prod-db"),
    "denied": Denied("r-AAAA2222"),
    "approved": Approved("r-AAAA2222"),
    "voted": Voted("r-AAAA2222", 1),
    # scheduled start
    "start_in_past": Refused("start_in_past", {"starts_at": AT, "zone": "Europe/Berlin", "max": 30 * 24 * H,
                                               "role": "prod-db"}),
    "start_too_far": Refused("start_too_far", {"starts_at": AT, "zone": "UTC", "max": 30 * 24 * H,
                                               "role": "prod-db"}),
    "bad_start": Refused("bad_start", {"problem": "'25:00' is not a time of day", "zone": "UTC"}),
    "scheduled_filed": ScheduledFiled("r-AAAA2222", "prod-db", 2 * H, 1, AT, "Europe/Berlin", True),
    "auto_scheduled": AutoScheduled("r-AAAA2222", "staging", H, AT, "UTC", False),
    # break-glass (issue 11)
    "break_glass_not_allowed": Refused("break_glass_not_allowed", {"role": "prod-db"}),
    "break_glass_reason_required": Refused("break_glass_reason_required", {"role": "prod-db"}),
    "not_break_glass": Refused("not_break_glass", {"grant_id": "g-AAAA2222"}),
    "already_acknowledged": Refused("already_acknowledged", {"grant_id": "g-AAAA2222", "by": "U0ADMIN1"}),
    "not_admin_review": Refused("not_admin", {"grant_id": "g-AAAA2222"}, "not_admin_review"),
    "break_glass_granted": BreakGlassGranted("r-AAAA2222", "g-AAAA2222", "prod-db", H, True, H),
    "acknowledged": Acknowledged("g-AAAA2222", "prod-db"),
}


def _literal(node: ast.expr | None) -> str | None:
    """The string a node spells out, or None when it is not a literal."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _keys_returned_by_use_cases() -> set[str]:
    """The wording key of every refusal written in the domain's decisions and the services (`Decision.no(code,
    form, …)` and `Refused(code, facts, form, …)`), read from the source so a new one cannot be missed."""
    keys: set[str] = set()
    files = [ROOT / "bot/domain/policy.py", *sorted((ROOT / "bot/services").glob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            form_at = {"Decision.no": 1, "Refused": 2}.get(name)
            if form_at is None or (node.args and ast.unparse(node.args[0]) == "self.code"):  # Decision.refusal
                continue
            kw = {k.arg: k.value for k in node.keywords}
            form_node = node.args[form_at] if len(node.args) > form_at else kw.get("form")
            code_node = node.args[0] if node.args else kw.get("code")
            form, code = _literal(form_node), _literal(code_node)
            where = f"{path.name}:{node.lineno}"
            assert form_node is None or form, f"{where}: a refusal's form is a literal string (a key of WORDING)"
            assert form or code, f"{where}: a refusal's code or form must be a literal string"
            key = form or code
            keys.add(key)
    return keys


def test_every_refusal_a_use_case_can_return_has_a_sample_here() -> None:
    found = _keys_returned_by_use_cases()
    assert len(found) > 20
    assert found <= set(SAMPLES), f"add a sample (and words in bot/domain/wording.py) for {found - set(SAMPLES)}"
    assert {cls.key for cls in SUCCESSES} <= set(SAMPLES)


def test_every_outcome_has_words_in_the_one_table() -> None:
    assert set(SAMPLES) <= set(WORDING), set(SAMPLES) - set(WORDING)
    assert set(FOR_APPROVER) <= {s.code for s in SAMPLES.values()}


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_each_outcome_is_said_in_slack_in_the_cli_and_in_the_api(key: str) -> None:
    outcome = SAMPLES[key]
    slack, cli, words = slack_text(outcome), cli_text(outcome), explain(outcome)
    assert slack and cli and words
    assert "`" not in cli and "<@" not in cli and "`" not in words and "<@" not in words
    assert plain(slack) == words
    if not outcome.ok:
        failure = refusal(outcome)
        assert failure.code == outcome.code and failure.message == words
        assert failure.status == (403 if outcome.code == "not_allowed" else 422)


def test_slack_words_are_todays_words() -> None:
    assert slack_text(SAMPLES["already_granted"]) == (
        "you already hold `prod-db`; use `/access extend GRANT_ID DURATION` to lengthen it "
        "(`/access list` shows the ID)")
    assert slack_text(SAMPLES["filed"]) == (
        "Request `r-AAAA2222` for `prod-db` (2h) is waiting for 1 approval(s). `/access cancel r-AAAA2222` "
        "withdraws it.")
    assert slack_text(SAMPLES["closed_on_recheck"]) == (
        "Request `r-AAAA2222` was checked again before approving and no longer passes, so it is closed as denied "
        "and nothing was granted: <@U0ALICE> cannot hold access any more (your Slack account is deactivated, so "
        "it cannot request access). <@U0ALICE> is told why.")
    assert slack_text(SAMPLES["already_decided"]).endswith("is already denied by <@U0APPR01>; your click changed "
                                                           "nothing")
    assert slack_text(SAMPLES["rate_limited"]) == (
        "you have filed 3 requests in the last 10m, as many as one person may; you can file again at 03:04:05 UTC "
        "(in 42s)")


def test_a_slack_answer_warns_of_a_refusal_and_capitalises_it_when_asked() -> None:
    assert slack_answer(SAMPLES["self_approval"]) == ":warning: you cannot approve or deny your own request"
    assert slack_answer(SAMPLES["self_approval"], capitalise=True).startswith(":warning: You cannot")
    assert slack_answer(SAMPLES["cancelled"]) == "Request `r-AAAA2222` is cancelled."


def test_the_cli_points_at_accessbot_grants_where_slack_points_at_access_list() -> None:
    assert slack_text(SAMPLES["unknown_grant"]) == "you have no grant `g-ZZZZZZ`; `/access list` shows yours"
    assert cli_text(SAMPLES["unknown_grant"]) == "you have no grant g-ZZZZZZ; accessbot grants lists them"
    assert explain(SAMPLES["unknown_grant"]) == "you have no grant g-ZZZZZZ; /access list shows yours"


def test_a_refusal_carries_the_seconds_to_wait_for_machines() -> None:
    assert SAMPLES["rate_limited"].data == {"retry_after_s": 42}
    assert SAMPLES["self_approval"].data is None
    assert SAMPLES["auto_approved"].data == {"request_id": "r-AAAA2222", "grant_id": "g-AAAA2222"}


# Text from outside: anything people or Slack could put in a role name, an email or an error.
odd = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), min_size=1, max_size=30) | \
    st.lists(st.sampled_from(list("ab _*~`<>&@!|#^:.-é\u200b") + ["<!channel>", "&amp;", "&lt;", "```", "<@U1>"]),
             min_size=1, max_size=12).map("".join)


@given(odd, odd, odd)
def test_slack_text_read_back_says_exactly_the_plain_words_so_outside_text_is_escaped_once(
        role: str, email: str, why: str) -> None:
    outcomes = [
        Refused("not_allowed", {"role": role}),
        Refused("email_changed", {"email_now": email, "email_filed": role}),
        Refused("no_identity", {"request_id": "r-AAAA2222", "requester": "U0ALICE", "role": role},
                "closed_on_recheck", Refused("lookup_failed", {"identity": "lookup_failed",
                                                               "looked_up": "Slack profile", "error": why},
                                             "identity")),
        Revoking("g-AAAA2222", role),
        Refused("unknown_role", {"asked": role, "roles": [email, why]}, "no_such_role"),
    ]
    for outcome in outcomes:
        slack = slack_text(outcome)
        assert plain(slack) == explain(outcome)
        assert "<!channel>" not in slack and "<@U1>" not in slack


@pytest.mark.parametrize("code", ["deactivated", "bot", "guest", "no_email", "lookup_failed"])
def test_every_reason_users_info_gives_for_not_asking_has_words(code: str) -> None:
    facts = {"identity": code, "looked_up": "Slack profile" if code == "lookup_failed" else "",
             "error": "timeout" if code == "lookup_failed" else ""}
    said = explain(Refused("no_identity", facts, "identity"))
    assert said and ("timeout" in said) == (code == "lookup_failed")
