"""The side effects a use case owes, as typed values, and their outbox encoding (kind, payload, key, lane)."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from bot.domain.lanes import LANE_CF_ADD, LANE_CF_REMOVE, LANE_OTHER


class UndecodableEffect(ValueError):
    """A stored outbox row whose kind is unknown or whose payload lacks a required field."""


class Encoded(NamedTuple):
    """An effect as the outbox stores it."""

    kind: str
    payload: dict[str, Any]
    key: str
    lane: int


@dataclass(frozen=True)
class Effect(ABC):
    """Base of every effect: its stored kind, whether Cloudflare carries it out, and its outbox key."""

    KIND: ClassVar[str] = ""
    CLOUDFLARE: ClassVar[bool] = False
    LANE: ClassVar[int] = LANE_OTHER
    # payload keys that differ from the field name (a field named after a Python keyword)
    RENAMED: ClassVar[dict[str, str]] = {}
    # optional fields written even when None (today's payload always carries them)
    KEEP_NONE: ClassVar[tuple[str, ...]] = ()

    @property
    @abstractmethod
    def key(self) -> str:
        """The outbox key: effects sharing it are worked in order, one process at a time."""

    @property
    def lane(self) -> int:
        """The outbox lane this effect is claimed in."""
        return self.LANE


def group_key(account_id: str, group_id: str) -> str:
    """The outbox key (and lock name) of one Cloudflare group."""
    return f"cf:{account_id}:{group_id}"


def request_key(request_id: str) -> str:
    """The outbox key of one request's approval message(s): its post, its refreshes and its thread notes."""
    return f"slack:request:{request_id}"


def dm_key(user: str) -> str:
    """The outbox key of the direct messages to one person."""
    return f"slack:dm:{user}"


def home_key(users: tuple[str, ...]) -> str:
    """The outbox key of an App Home refresh: its first person's Home (the use cases owe one person's at a
    time; a key names one conversation and must fit the key column)."""
    return "slack:home:" + (users[0] if users else "")


ADMINS_KEY = "slack:admins"
AUDIT_KEY = "slack:audit"


@dataclass(frozen=True)
class SyncGroup(Effect):
    """Bring a Cloudflare group in line with the database (one GET and PUT settles all owed on it)."""

    KIND: ClassVar[str] = "cf.sync"
    CLOUDFLARE: ClassVar[bool] = True
    account_id: str
    group_id: str
    # only chooses the lane (a removal goes first); not stored in the payload, so not part of equality
    removal: bool = field(default=False, compare=False, metadata={"stored": False})

    @property
    def key(self) -> str:
        """The group's key: every sync owed to one group is settled together."""
        return group_key(self.account_id, self.group_id)

    @property
    def lane(self) -> int:
        """Removals in the most urgent lane, adds after them."""
        return LANE_CF_REMOVE if self.removal else LANE_CF_ADD


@dataclass(frozen=True)
class RevokeSessions(Effect):
    """End a person's open Cloudflare Access sessions after their email left a group."""

    KIND: ClassVar[str] = "cf.revoke_sessions"
    CLOUDFLARE: ClassVar[bool] = True
    LANE: ClassVar[int] = LANE_CF_REMOVE
    account_id: str
    email: str
    grant_id: str

    @property
    def key(self) -> str:
        """One key per Cloudflare account."""
        return f"cf-sessions:{self.account_id}"


@dataclass(frozen=True)
class PostApproval(Effect):
    """Post a request's approval message (to its role's channel, or to each approver directly)."""

    KIND: ClassVar[str] = "approval.post"
    request_id: str

    @property
    def key(self) -> str:
        """The request's key: the post comes before its refreshes and thread notes."""
        return request_key(self.request_id)


@dataclass(frozen=True)
class RefreshApprovalMessage(Effect):
    """Update a request's approval message(s) in place to show the request as it is now."""

    KIND: ClassVar[str] = "approval.refresh"
    request_id: str

    @property
    def key(self) -> str:
        """The request's key."""
        return request_key(self.request_id)


@dataclass(frozen=True)
class AskOnCall(Effect):
    """Send the request's approval message to its on-call approvers (a role with `oncall`, `auto_approve: false`)."""

    KIND: ClassVar[str] = "oncall.ask"
    request_id: str

    @property
    def key(self) -> str:
        """The request's key: after the approval post, before its refreshes."""
        return request_key(self.request_id)


@dataclass(frozen=True)
class NotifyThread(Effect):
    """A later event of a request's grant, in its approval message's thread."""

    KIND: ClassVar[str] = "notify.thread"
    request_id: str
    event: str
    grant_id: str | None = None
    by: str | None = None
    note: str | None = None

    @property
    def key(self) -> str:
        """The request's key."""
        return request_key(self.request_id)


@dataclass(frozen=True)
class NotifyApprovers(Effect):
    """Tell approvers asked directly that the request was decided (except the one who decided)."""

    KIND: ClassVar[str] = "notify.approvers"
    RENAMED: ClassVar[dict[str, str]] = {"except_": "except"}
    request_id: str
    event: str
    except_: str | None = None

    @property
    def key(self) -> str:
        """The request's key (the notes go in the threads of its approval messages)."""
        return request_key(self.request_id)


@dataclass(frozen=True)
class NotifyUser(Effect):
    """A direct message to a person (a requester) about one of their requests or grants."""

    KIND: ClassVar[str] = "notify.user"
    user: str
    event: str
    grant_id: str | None = None
    request_id: str | None = None
    stage: str | None = None
    role: str | None = None
    error: str | None = None
    by: str | None = None      # who acted, when that is not the person told (an admin's revoke)
    note: str | None = None    # the reason they gave
    schedule: str | None = None  # the PagerDuty schedule an on-call approval came from

    @property
    def key(self) -> str:
        """The person's DM: one rate-limited conversation holds back no other."""
        return dm_key(self.user)


@dataclass(frozen=True)
class NotifyAdmins(Effect):
    """An alert to the audit channel, or to each admin directly when there is none."""

    KIND: ClassVar[str] = "notify.admins"
    event: str
    summary: str | None = None
    account_id: str | None = None
    group_id: str | None = None
    grants: tuple[str, ...] | None = None
    grant_id: str | None = None
    request_id: str | None = None
    role: str | None = None
    stage: str | None = None
    error: str | None = None
    since: str | None = None

    @property
    def key(self) -> str:
        """The admins' conversation."""
        return ADMINS_KEY


@dataclass(frozen=True)
class PostAuditSummary(Effect):
    """The one-line summary of an audit event, in the audit channel."""

    KIND: ClassVar[str] = "audit.summary"
    seq: int

    @property
    def key(self) -> str:
        """The audit channel."""
        return AUDIT_KEY


@dataclass(frozen=True)
class RefreshHome(Effect):
    """Republish the App Home of these people (and of a request's approvers) who have opened it."""

    KIND: ClassVar[str] = "home.refresh"
    KEEP_NONE: ClassVar[tuple[str, ...]] = ("approvers_of",)
    users: tuple[str, ...] = ()
    approvers_of: str | None = None

    @property
    def key(self) -> str:
        """The people's Homes."""
        return home_key(self.users)


@dataclass(frozen=True)
class RemindApprovers(Effect):
    """Re-ping the approvers of a pending request who have not acted (in its message's thread and by DM)."""

    KIND: ClassVar[str] = "approval.remind"
    request_id: str
    nth: int = 1

    @property
    def key(self) -> str:
        """The request's key (after its post)."""
        return request_key(self.request_id)


@dataclass(frozen=True)
class EscalateRequest(Effect):
    """Ask a request's `escalate_to` people (now approvers too), and say so in its message's thread."""

    KIND: ClassVar[str] = "approval.escalate"
    request_id: str

    @property
    def key(self) -> str:
        """The request's key (after its post)."""
        return request_key(self.request_id)


@dataclass(frozen=True)
class BreakGlassReview(Effect):
    """A break-glass grant: announced loudly (`nth` 0) to the audit channel and every admin, whose message asks
    for its review (Acknowledge / Revoke now); `nth` > 0 reminds the admins while nobody has acknowledged it."""

    KIND: ClassVar[str] = "breakglass.review"
    grant_id: str
    nth: int = 0

    @property
    def key(self) -> str:
        """The admins' conversation."""
        return ADMINS_KEY


# Every effect type, by the kind stored in the outbox (the one registry; nothing else lists kinds).
REGISTRY: dict[str, type[Effect]] = {cls.KIND: cls for cls in (
    SyncGroup, RevokeSessions, PostApproval, RefreshApprovalMessage, NotifyThread, NotifyApprovers, NotifyUser,
    NotifyAdmins, PostAuditSummary, RefreshHome, RemindApprovers, EscalateRequest, BreakGlassReview, AskOnCall)}


def _stored_fields(cls: type[Effect]) -> list[dataclasses.Field]:
    """The dataclass fields that go in the payload."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("stored", True)]


def _json(value: Any) -> Any:
    """A field value as JSON holds it (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


def encode(effect: Effect) -> Encoded:
    """The effect as the outbox stores it: today's kind string and payload shape, its key and its lane.

    Optional fields that are None are left out of the payload, as the code that owed them always did."""
    payload: dict[str, Any] = {}
    for f in _stored_fields(type(effect)):
        value = getattr(effect, f.name)
        if value is None and f.default is None and f.name not in effect.KEEP_NONE:
            continue
        payload[effect.RENAMED.get(f.name, f.name)] = _json(value)
    return Encoded(effect.KIND, payload, effect.key, effect.lane)


def decode(kind: str, payload: dict[str, Any]) -> Effect:
    """The effect a stored outbox row holds; UndecodableEffect for an unknown kind or a missing field.

    Payload keys this code does not know are ignored (rows written by other versions still decode)."""
    cls = REGISTRY.get(kind)
    if cls is None:
        raise UndecodableEffect(f"unknown effect kind {kind!r}")
    values: dict[str, Any] = {}
    for f in _stored_fields(cls):
        name = cls.RENAMED.get(f.name, f.name)
        if name in payload:
            value = payload[name]
            values[f.name] = tuple(value) if isinstance(value, list) else value
        elif f.default is dataclasses.MISSING:
            raise UndecodableEffect(f"{kind} payload lacks {name!r}")
    return cls(**values)
