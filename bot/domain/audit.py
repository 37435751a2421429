"""Audit events and the hash chain that makes the log tamper-evident."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
FIELDS = ("seq", "at", "actor", "action", "request_id", "grant_id", "role", "subject", "details",
          "prev_hash", "hash")


@dataclass(frozen=True)
class AuditEvent:
    """What happened, before it is given its place in the chain."""

    actor: str
    action: str
    request_id: str | None = None
    grant_id: str | None = None
    role: str | None = None
    subject: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def format_at(at: datetime) -> str:
    """UTC ISO 8601 with microseconds and a Z, the one spelling used in the chain."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(record: dict[str, Any]) -> str:
    """Canonical JSON of an event's fields (sorted keys, no spaces) that the hash covers."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the event's canonical JSON (without `hash`)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256((prev_hash + canonical_json(body)).encode()).hexdigest()


def seal(event: AuditEvent, seq: int, at: datetime, prev_hash: str) -> dict[str, Any]:
    """The full row for `event` at position `seq`, with prev_hash and hash set."""
    record: dict[str, Any] = {
        "seq": seq,
        "at": format_at(at),
        "actor": event.actor,
        "action": event.action,
        "request_id": event.request_id,
        "grant_id": event.grant_id,
        "role": event.role,
        "subject": event.subject,
        "details": event.details,
        "prev_hash": prev_hash,
    }
    record["hash"] = chain_hash(prev_hash, record)
    return record


def short_head(chain_hash: str) -> str:
    """The short form of a chain hash shown in the audit channel: its first 12 hex digits and an ellipsis."""
    return f"{chain_hash[:12]}…"


def first_broken(records: list[dict[str, Any]] | Any, start_prev: str = GENESIS_HASH) -> int | None:
    """The seq of the first row whose hash, link or numbering is wrong, or None when the chain holds."""
    check = ChainCheck(start_prev)
    for rec in records:
        if not check.add(rec):
            return check.broken
    return None


class ChainCheck:
    """The hash chain checked one row at a time (oldest first), so a log of any size is checked in constant
    memory: `add` each row; `broken` is the seq of the first bad one (None while the chain holds), `count` the
    rows added."""

    def __init__(self, start_prev: str = GENESIS_HASH) -> None:
        self.prev = start_prev
        self.count = 0
        self.broken: int | None = None

    def add(self, rec: dict[str, Any]) -> bool:
        """Count the row and check it follows the rows before it; False from the first bad row on."""
        self.count += 1
        if self.broken is not None:
            return False
        prev = self.prev
        if rec["seq"] != self.count or rec["prev_hash"] != prev or chain_hash(prev, rec) != rec["hash"]:
            self.broken = rec["seq"]
            return False
        self.prev = rec["hash"]
        return True
