"""When the audit channel's backlog goes out as digests: which due effects run alone and which together.

Slack takes about one chat.postMessage a second in a channel (after a burst of three), so one line per audit
event puts a sweep of 10,000 expiries about three hours behind. A run of more than DIGEST_AFTER consecutive due
audit lines is posted as digests instead: top-level messages of at most DIGEST_SIZE lines each, in seq order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.effects import PostAuditSummary

# Up to three lines at once are what the channel's burst sends with no wait (POST_CHANNEL_BURST in
# bot/slack/pacer.py): they keep their thread per request. A fourth would wait a second for its turn, and so
# would every line after it: that is a backlog, and it goes out as digests.
DIGEST_AFTER = 3
# Lines per digest. Each line is a section of its own at worst (a line may be 3,000 characters), so 40 lines
# and the two heading blocks stay within Slack's 50 blocks a message; a typical line (~250 characters with its
# time) packs about ten to a section, so a digest is a few screens. 1,000 lines are 25 messages (25 s).
DIGEST_SIZE = 40


@dataclass(frozen=True)
class AuditDigest:
    """One digest message: the audit events `seqs` (in order), its place `part` of `parts` in a backlog of
    `backlog` lines found at once."""

    seqs: tuple[int, ...]
    part: int
    parts: int
    backlog: int


@dataclass(frozen=True)
class Batch:
    """Effects (by their index in the due list) that go out together: one alone, or a digest's lines."""

    indexes: tuple[int, ...]
    digest: bool = False
    part: int = 1
    parts: int = 1
    backlog: int = 1


def _runs(kinds: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of each maximal run of consecutive audit lines, and of each other effect on its own."""
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(kinds):
        end = i + 1
        if kinds[i] == PostAuditSummary.KIND:
            while end < len(kinds) and kinds[end] == PostAuditSummary.KIND:
                end += 1
        runs.append((i, end))
        i = end
    return runs


def _split(start: int, end: int, size: int) -> list[range]:
    """`start`..`end` in the fewest parts of at most `size`, as even as can be (no one-line tail)."""
    parts = math.ceil((end - start) / size)
    base, extra = divmod(end - start, parts)
    out, at = [], start
    for p in range(parts):
        n = base + (1 if p < extra else 0)
        out.append(range(at, at + n))
        at += n
    return out


def batches(kinds: Sequence[str], *, after: int = DIGEST_AFTER, size: int = DIGEST_SIZE) -> list[Batch]:
    """How a key's due effects (their kinds, in the order owed) go out, in that order: a run of more than
    `after` consecutive audit lines as digests of at most `size`, everything else one by one."""
    out: list[Batch] = []
    for start, end in _runs(kinds):
        if end - start <= after or kinds[start] != PostAuditSummary.KIND:
            out.extend(Batch((i,)) for i in range(start, end))
            continue
        parts = _split(start, end, size)
        out.extend(Batch(tuple(r), True, n, len(parts), end - start) for n, r in enumerate(parts, 1))
    return out
