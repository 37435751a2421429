"""The pure domain: durations, IDs, the group read-modify-write plan, policy decisions, the audit chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.audit import GENESIS_HASH, AuditEvent, first_broken, seal
from bot.domain.durations import DurationError, format_duration, looks_like_duration, parse_duration
from bot.domain.ids import ALPHABET, ID_PATTERN, new_grant_id, new_request_id, normalise_id
from bot.domain.membership import plan_group_change
from bot.domain.model import warn_time
from bot.domain.policy import Role, evaluate_request, evaluate_vote
from bot.domain.wording import explain


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400),
                                               ("1h30m", 5400), ("0", 0), (" 2H ", 7200)])
def test_durations_read_as_people_write_them(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2x", "h", "1h1h", "30m1h2", "-1h", "1.5h", "400d", "2 h"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)
    assert not looks_like_duration(text)


def test_durations_format_back_compactly() -> None:
    assert format_duration(timedelta(seconds=5400)) == "1h30m"
    assert format_duration(timedelta(days=1, seconds=5)) == "1d5s"


def test_ids_are_short_copyable_and_forgive_case() -> None:
    rid, gid = new_request_id(), new_grant_id()
    assert ID_PATTERN.match(rid) and rid.startswith("r-") and len(rid) == 10
    assert ID_PATTERN.match(gid) and gid.startswith("g-")
    assert normalise_id(" " + gid.lower() + " ") == gid
    assert len({new_grant_id() for _ in range(2000)}) == 2000


def test_ids_come_from_a_space_where_collisions_are_negligible_and_old_ids_stay_valid() -> None:
    # 8 characters of a 30-letter alphabet: 30**8 IDs; 2,000 of them collide with odds under 1 in 100,000
    # (the birthday bound n**2 / 2N), where six characters (30**6) made 2,000 collide once in ~365 runs.
    # (A collision that does happen is retried: see test_use_cases.)
    space = len(ALPHABET) ** (len(new_request_id()) - 2)
    assert space >= 30 ** 8 and 2000 ** 2 / (2 * space) < 1e-5
    for old in ("r-9QXK7M", "g-7K3FMA", "r-9QXK"):  # IDs made before, shown to people and typed back
        assert ID_PATTERN.match(old) and normalise_id(old.lower()) == old


FOREIGN = [{"email_domain": {"domain": "x.io"}}, {"group": {"id": "abc"}}, {"email": {"email": "boss@x.io"}},
           {"everyone": {}}, {"email": {"email": "boss@x.io", "note": "kept"}}]


def test_a_group_change_keeps_foreign_rules_in_place_and_order() -> None:
    group = {"id": "g", "name": "n", "created_at": "t", "include": FOREIGN + [{"email": {"email": "a@x.io"}}],
             "exclude": [{"ip": {"ip": "1.2.3.4/32"}}], "require": [{"email_domain": {"domain": "x.io"}}],
             "is_default": False}
    change = plan_group_change(group, {"b@x.io"}, {"a@x.io"})
    assert change.body["include"] == FOREIGN + [{"email": {"email": "b@x.io"}}]
    assert change.body["exclude"] == group["exclude"] and change.body["require"] == group["require"]
    assert "id" not in change.body and "created_at" not in change.body and change.body["is_default"] is False
    assert change.added == {"b@x.io"} and change.removed == {"a@x.io"} and change.changed


def test_adding_a_present_email_or_removing_an_absent_one_changes_nothing() -> None:
    group = {"name": "n", "include": [{"email": {"email": "A@x.io"}}]}
    change = plan_group_change(group, {"a@x.io"}, {"zed@x.io"})
    assert not change.changed and change.already_present == {"a@x.io"}


def test_an_email_both_added_and_removed_stays() -> None:
    change = plan_group_change({"name": "n", "include": [{"email": {"email": "a@x.io"}}]}, {"a@x.io"}, {"a@x.io"})
    assert not change.changed and change.body["include"] == [{"email": {"email": "a@x.io"}}]


ROLE = Role(name="db", group_id="g", account_id="a", approvers=("U1", "S9"), requesters=("S7", "U5"),
            min_duration=timedelta(minutes=5), max_duration=timedelta(hours=4))


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"requester": "U2"}, "not_allowed"),
    ({"already_holds": True}, "already_granted"),
    ({"already_pending": True}, "already_pending"),
    ({"duration": timedelta(minutes=1)}, "duration_too_short"),
    ({"duration": timedelta(hours=5)}, "duration_too_long"),
    ({"reason": " "}, "reason_required"),
])
def test_request_decisions_say_why(kwargs: dict, code: str) -> None:
    args = {"requester": "U5", "duration": timedelta(hours=1), "reason": "why", **kwargs}
    decision = evaluate_request(ROLE, args.pop("requester"), args.pop("duration"), args.pop("reason"), **args)
    assert not decision.allowed and decision.code == code and explain(decision.refusal)


def test_a_member_of_an_allowed_user_group_may_request() -> None:
    assert evaluate_request(ROLE, "U8", timedelta(hours=1), "why", frozenset({"S7"})).allowed


def test_vote_decisions_cover_approvers_groups_and_self_approval() -> None:
    assert evaluate_vote(ROLE, "U1", "U5", frozenset()).allowed
    assert evaluate_vote(ROLE, "U3", "U5", frozenset({"S9"})).allowed
    assert evaluate_vote(ROLE, "U3", "U5", frozenset()).code == "not_an_approver"
    assert evaluate_vote(ROLE, "U1", "U1", frozenset()).code == "self_approval"


def test_no_warning_when_warn_before_is_zero_or_longer_than_the_grant() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert warn_time(start + timedelta(hours=1), timedelta(minutes=10), start) == start + timedelta(minutes=50)
    assert warn_time(start + timedelta(minutes=5), timedelta(minutes=10), start) is None
    assert warn_time(start + timedelta(hours=1), timedelta(0), start) is None


def test_the_audit_chain_detects_a_change_a_gap_and_a_reorder() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows, prev = [], GENESIS_HASH
    for i in range(1, 5):
        row = seal(AuditEvent("U1", "request.created", details={"i": i}), i, at, prev)
        rows.append(row)
        prev = row["hash"]
    assert first_broken(rows) is None
    changed = [dict(r) for r in rows]
    changed[2]["actor"] = "U666"
    assert first_broken(changed) == 3
    assert first_broken(rows[:1] + rows[2:]) == 3
    assert first_broken([rows[1], rows[0]] + rows[2:]) == 2
