"""The audit channel's digests: which due effects go out together (the grouping rule) and how a digest reads."""

from __future__ import annotations

import re

from bot.domain.audit_digest import DIGEST_AFTER, DIGEST_SIZE, AuditDigest, Batch, batches
from bot.simulators.block_kit import block_kit_errors, message_text_errors
from bot.slack.audit_lines import audit_line, digest_message

LINE, OTHER = "audit.summary", "notify.user"


def _row(seq: int, action: str = "grant.revoked", **extra: object) -> dict[str, object]:
    return {"seq": seq, "at": f"2026-12-07T19:{seq // 60 % 60:02d}:{seq % 60:02d}+00:00", "actor": "system",
            "action": action, "request_id": f"r-{seq:08d}", "grant_id": f"g-{seq:08d}", "role": "prod-db",
            "subject": f"p{seq}@example.com", "details": {}, "prev_hash": "0" * 64, "hash": f"{seq:064x}", **extra}


def test_up_to_three_due_lines_go_one_by_one_and_a_fourth_makes_them_a_digest() -> None:
    assert DIGEST_AFTER == 3
    assert batches([LINE] * 3) == [Batch((0,)), Batch((1,)), Batch((2,))]
    assert batches([LINE] * 4) == [Batch((0, 1, 2, 3), True, 1, 1, 4)]


def test_a_backlog_is_split_into_the_fewest_digests_of_at_most_n_lines_as_even_as_can_be() -> None:
    assert DIGEST_SIZE == 40
    assert [len(b.indexes) for b in batches([LINE] * 80)] == [40, 40]
    assert [len(b.indexes) for b in batches([LINE] * 81)] == [27, 27, 27]  # no one-line tail
    assert [(b.part, b.parts, b.backlog) for b in batches([LINE] * 81)] == [(1, 3, 81), (2, 3, 81), (3, 3, 81)]
    assert [len(b.indexes) for b in batches([LINE] * 10, size=4)] == [4, 3, 3]


def test_digests_keep_the_order_owed_each_effect_in_exactly_one_batch() -> None:
    got = batches([LINE] * 250)
    assert [i for b in got for i in b.indexes] == list(range(250))
    assert all(b.digest for b in got) and len(got) == 7


def test_in_a_mixed_backlog_only_runs_of_more_than_three_consecutive_lines_become_digests() -> None:
    kinds = [LINE] * 5 + [OTHER] + [LINE] * 2 + [OTHER, OTHER] + [LINE] * 4 + [OTHER] * 5
    got = batches(kinds)
    assert got == [Batch((0, 1, 2, 3, 4), True, 1, 1, 5), Batch((5,)), Batch((6,)), Batch((7,)), Batch((8,)),
                   Batch((9,)), Batch((10, 11, 12, 13), True, 1, 1, 4), *[Batch((i,)) for i in range(14, 19)]]


def test_a_digest_shows_each_events_own_line_once_in_seq_order_with_its_time() -> None:
    rows = [_row(s) for s in range(101, 141)]
    msg = digest_message(AuditDigest(tuple(range(101, 141)), 2, 7, 250), rows)
    assert msg is not None and block_kit_errors(msg["blocks"]) == [] and message_text_errors(msg["text"]) == []
    lines = [line for b in msg["blocks"][2:] for line in b["text"]["text"].split("\n")]
    assert [int(re.search(r"`#(\d+)`", line)[1]) for line in lines] == list(range(101, 141))
    for row, line in zip(rows, lines, strict=True):
        assert line.endswith(audit_line(row)) and line.startswith("<!date^")  # the single line's words, timed
    assert len(msg["blocks"]) < 8, "lines are packed into few sections"


def test_a_digests_heading_counts_its_events_by_action_and_says_which_part_of_the_backlog_it_is() -> None:
    rows = [_row(s) for s in range(1, 39)] + [_row(39, "grant.applied"), _row(40, "grant.applied")]
    msg = digest_message(AuditDigest(tuple(range(1, 41)), 1, 7, 250), rows)
    assert msg is not None
    assert msg["text"] == "40 audit events (digest 1 of 7, 250 lines in all): grant.revoked ×38, grant.applied ×2"
    assert "`#1` to `#40`" in msg["blocks"][1]["elements"][0]["text"]


def test_a_digest_of_forty_longest_lines_stays_within_slacks_block_kit_limits() -> None:
    rows = [_row(s, details={"reason": "x" * 200}, subject="s" * 2990) for s in range(1, DIGEST_SIZE + 1)]
    msg = digest_message(AuditDigest(tuple(range(1, DIGEST_SIZE + 1)), 1, 1, DIGEST_SIZE), rows)
    assert msg is not None and block_kit_errors(msg["blocks"]) == []
    assert len(msg["blocks"]) == DIGEST_SIZE + 2
    assert all(f" · head {r['hash'][:12]}…" in b["text"]["text"] for r, b in zip(rows, msg["blocks"][2:], strict=True))


def test_a_digest_whose_events_are_all_gone_posts_nothing() -> None:
    assert digest_message(AuditDigest((1, 2, 3, 4), 1, 1, 4), []) is None
