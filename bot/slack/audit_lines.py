"""The audit channel's words: one audit event's line, and a backlog's digest message of such lines."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bot.domain.audit import short_head
from bot.domain.audit_digest import AuditDigest
from bot.domain.ids import ID_PATTERN
from bot.slack import blocks as bk
from bot.slack.text import cut, inert

LINE_LIMIT = bk.SECTION_LIMIT  # a line fits one section on its own


def audit_line(row: dict[str, Any], limit: int = LINE_LIMIT) -> str:
    """The one-line summary of an audit event, at most `limit` characters (its chain head always kept)."""
    actor = row["actor"]
    who = f"<@{actor}>" if actor[:1] in "UW" and actor.isalnum() else inert(actor)
    parts = [f"`#{row['seq']}` {row['action']}", f"by {who}"]
    if row.get("role"):
        parts.append(f"role {inert(row['role'])}")
    if row.get("subject"):
        parts.append(inert(row["subject"]))
    for k in ("request_id", "grant_id"):
        if row.get(k):
            parts.append(f"`{row[k]}`" if ID_PATTERN.match(str(row[k])) else inert(str(row[k])))
    d = row.get("details") or {}
    for k in ("reason", "code", "choice"):
        if k in d and isinstance(d[k], str):
            parts.append(f"{k}: {inert(cut(d[k], 200))}")
    # the chain head after this event, to hold against a checkpoint (a row not yet chained has none)
    head = f" · head {short_head(row['hash'])}" if row.get("hash") else ""
    return cut(" · ".join(parts), limit - len(head)) + head


def _at(row: dict[str, Any]) -> datetime | None:
    """When the event happened, or None when its time cannot be read."""
    at = row.get("at")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return None
    if not isinstance(at, datetime):
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _stamped(row: dict[str, Any]) -> str:
    """A digest's line: the event's time of day (each reader's timezone, to the second), then its audit line."""
    at = _at(row)
    stamp = f"<!date^{int(at.timestamp())}^{{time_secs}}|{at.strftime('%H:%M:%S UTC')}> " if at else ""
    return stamp + audit_line(row, LINE_LIMIT - len(stamp))


def _sections(lines: list[str]) -> list[dict[str, Any]]:
    """The lines packed in order into as few sections as fit Slack's 3,000 characters each."""
    packed: list[list[str]] = []
    size = 0
    for line in lines:
        if packed and size + 1 + len(line) <= bk.SECTION_LIMIT:
            packed[-1].append(line)
            size += 1 + len(line)
        else:
            packed.append([line])
            size = len(line)
    return [bk.mrkdwn("\n".join(chunk)) for chunk in packed]


def digest_heading(digest: AuditDigest, rows: list[dict[str, Any]]) -> str:
    """"40 audit events (digest 1 of 7, 250 lines in all): grant.revoked ×38, …": how many, which part of the
    backlog, and the actions of this digest, most frequent first."""
    tally = ", ".join(f"{inert(action)} ×{n}" for action, n in Counter(r["action"] for r in rows).most_common())
    return (f"{len(rows)} audit events (digest {digest.part} of {digest.parts}, {digest.backlog} lines in all): "
            f"{tally}")


def digest_message(digest: AuditDigest, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The digest's message: its heading, the span of events and times it covers, then one line per event in seq
    order; None when none of its events is left to show."""
    if not rows:
        return None
    heading = digest_heading(digest, rows)
    first, last = rows[0], rows[-1]
    span = (f"Events `#{first['seq']}` to `#{last['seq']}`, {bk.when_text(first['at'], seconds=True)} to "
            f"{bk.when_text(last['at'], seconds=True)}. The channel had a backlog, so its lines come in digests "
            "instead of each request's thread.")
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": span}]}
    return {"text": heading,
            "blocks": [bk.mrkdwn(":card_index_dividers: " + heading.replace(" audit events", " audit events*", 1)
                                 .join(("*", ""))), context,
                       *_sections([_stamped(r) for r in rows])]}
