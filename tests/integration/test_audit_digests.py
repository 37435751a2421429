"""The audit channel's worker on a real database (SQLite and PostgreSQL): a backlog of audit lines goes out as
digests in seq order, each digest's rows done together, a failed digest retried whole before any later line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.audit_digest import AuditDigest
from bot.domain.effects import AUDIT_KEY, NotifyUser, PostAuditSummary
from bot.domain.errors import PermanentError, TransientError
from tests.core_harness import make_core


@pytest.fixture
async def core(database_url):  # noqa: ANN001, ANN201
    c = await make_core(database_url)
    yield c
    await c.deps.store.engine.dispose()


async def _owe_lines(core: Any, seqs: range) -> None:  # noqa: ANN401
    """Audit lines owed to the audit channel, in one transaction (as a sweep owes them)."""
    async with core.deps.store.tx() as tx:
        for seq in seqs:
            await tx.outbox.owe(PostAuditSummary(seq))


async def _pending(core: Any) -> list[Any]:  # noqa: ANN401
    async with core.deps.store.tx() as tx:
        return await tx.outbox.pending_effects_for_key(AUDIT_KEY)


def _seqs_sent(core: Any) -> list[int]:  # noqa: ANN401
    """The audit events the Messenger posted, in order, a digest's in its order."""
    out: list[int] = []
    for sent in core.messenger.sent:
        out += list(sent.seqs) if isinstance(sent, AuditDigest) else [sent.seq]
    return out


async def test_a_backlog_of_a_hundred_lines_goes_out_as_three_digests_in_seq_order(core) -> None:  # noqa: ANN001
    await _owe_lines(core, range(1, 101))
    await core.settle()
    assert [op for op, _ in core.messenger.calls] == ["post_audit_digest"] * 3
    assert [(d.part, d.parts, d.backlog, len(d.seqs)) for d in core.messenger.sent] == \
        [(1, 3, 100, 34), (2, 3, 100, 33), (3, 3, 100, 33)]
    assert _seqs_sent(core) == list(range(1, 101))
    assert await _pending(core) == []


async def test_three_lines_due_at_once_still_go_one_by_one(core) -> None:  # noqa: ANN001
    await _owe_lines(core, range(1, 4))
    await core.settle()
    assert core.messenger.calls == [("post_audit_summary", PostAuditSummary(s)) for s in (1, 2, 3)]


async def test_a_429_on_a_digest_retries_its_lines_together_after_retry_after_and_nothing_overtakes_them(
        core) -> None:  # noqa: ANN001
    def first_call_limited(sent: Any) -> None:  # noqa: ANN401
        if len(core.messenger.calls) == 1:
            raise TransientError("Slack: ratelimited", status=429, retry_after=30)

    core.messenger.fail = first_call_limited
    await _owe_lines(core, range(1, 101))
    await core.settle()
    assert core.messenger.sent == [] and len(core.messenger.calls) == 1, "the later digests waited"
    core.clock.advance(timedelta(seconds=31))
    await core.settle()
    assert _seqs_sent(core) == list(range(1, 101)), "each line once, in seq order"
    assert core.messenger.calls[0][1] == core.messenger.sent[0]  # the same 34 lines again, together
    assert await _pending(core) == []


async def test_a_failed_digest_is_retried_after_its_backoff_before_any_later_line(core) -> None:  # noqa: ANN001
    def first_call_fails(sent: Any) -> None:  # noqa: ANN401
        if len(core.messenger.calls) == 1:
            raise TransientError("Slack: 503", status=503)

    core.messenger.fail = first_call_fails
    await _owe_lines(core, range(1, 51))
    await core.settle()
    assert core.messenger.sent == []
    rows = await _pending(core)
    assert sorted(r.attempts for r in rows) == [0] * 25 + [1] * 25, "the failed digest's 25 rows count an attempt"
    core.clock.advance(timedelta(seconds=10))
    await core.settle()
    assert _seqs_sent(core) == list(range(1, 51))


async def test_a_digest_slack_refuses_for_good_gives_up_its_lines_and_the_next_digest_goes(core) -> None:  # noqa: ANN001
    def first_call_refused(sent: Any) -> None:  # noqa: ANN401
        if len(core.messenger.calls) == 1:
            raise PermanentError("Slack: invalid_blocks", status=200)

    core.messenger.fail = first_call_refused
    await _owe_lines(core, range(1, 81))
    await core.settle()
    assert _seqs_sent(core) == list(range(41, 81))
    async with core.deps.store.tx() as tx:
        counts = await tx.outbox.effect_counts()
    assert counts.get("dead") == 40 and await _pending(core) == []


async def test_lines_of_the_backlog_that_fall_between_other_kinds_keep_the_order_owed(core) -> None:  # noqa: ANN001
    async with core.deps.store.tx() as tx:
        await tx.outbox.enqueue("notify.user", {"user": "U0ALICE", "event": "approved"}, key=AUDIT_KEY)
        for seq in range(1, 6):
            await tx.outbox.owe(PostAuditSummary(seq))
        await tx.outbox.enqueue("notify.user", {"user": "U0BOB", "event": "approved"}, key=AUDIT_KEY)
        await tx.outbox.owe(PostAuditSummary(6))
    await core.settle()
    assert [op for op, _ in core.messenger.calls] == ["notify_user", "post_audit_digest", "notify_user",
                                                      "post_audit_summary"]
    assert core.messenger.sent[0] == NotifyUser("U0ALICE", "approved")


async def test_an_unreadable_line_in_a_backlog_is_dropped_alone_and_the_digest_carries_the_rest(core) -> None:  # noqa: ANN001
    async with core.deps.store.tx() as tx:
        for seq in range(1, 6):
            await tx.outbox.owe(PostAuditSummary(seq))
            if seq == 3:
                await tx.outbox.enqueue("audit.summary", {"nope": 1}, key=AUDIT_KEY)
    await core.settle()
    assert [op for op, _ in core.messenger.calls] == ["post_audit_digest"]
    assert _seqs_sent(core) == [1, 2, 3, 4, 5]
    async with core.deps.store.tx() as tx:
        assert (await tx.outbox.effect_counts()).get("dead") == 1


async def test_lines_owed_while_a_backlog_is_posted_go_on_in_the_same_worker_run(core) -> None:  # noqa: ANN001
    post = core.messenger.post_audit_digest

    async def post_then_owe_more(digest: AuditDigest) -> None:
        await post(digest)
        if len(core.messenger.sent) == 1:  # a sweep's next group commits its lines meanwhile
            await _owe_lines(core, range(51, 101))

    core.messenger.post_audit_digest = post_then_owe_more
    await _owe_lines(core, range(1, 51))
    await core.scheduler._work_serial(AUDIT_KEY)  # noqa: SLF001 - one worker run, as a worker slot makes it
    assert _seqs_sent(core) == list(range(1, 101))
    assert [(d.part, d.parts, d.backlog) for d in core.messenger.sent] == [(1, 2, 50), (2, 2, 50), (1, 2, 50),
                                                                          (2, 2, 50)]
