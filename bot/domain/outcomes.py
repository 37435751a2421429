"""What a use case answers: a refusal (a stable code and the facts behind it) or what it did, never words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar


@dataclass(frozen=True)
class Refused:
    """A refusal: `code` is the stable machine string (/api's `error`, the audit's `code`); `facts` are the
    domain values behind it (role names, IDs, durations as timedelta, times); `form` picks one of a code's
    wordings when a code is said in more than one way; `cause` is the refusal this one reports on."""

    code: str
    facts: dict[str, Any] = field(default_factory=dict)
    form: str = ""
    cause: Refused | None = None
    ok: ClassVar[bool] = False

    @property
    def key(self) -> str:
        """The wording this refusal is said in: its form, else its code."""
        return self.form or self.code

    @property
    def data(self) -> dict[str, Any] | None:
        """What a machine caller may act on (the seconds to wait before filing again), else None."""
        wait = self.facts.get("retry_after")
        return {"retry_after_s": int(wait.total_seconds())} if isinstance(wait, timedelta) else None


class _Success:
    """What every success shares: `ok`, its `code` (/api's and the audit's), the `key` of its wording, and `data`,
    the IDs named in `DATA` that a machine caller may act on (None when it names none)."""

    ok: ClassVar[bool] = True
    code: ClassVar[str] = "ok"
    key: ClassVar[str]
    DATA: ClassVar[tuple[str, ...]] = ()

    @property
    def data(self) -> dict[str, Any] | None:
        """The IDs a caller may act on, by name, or None."""
        return {name: getattr(self, name) for name in self.DATA} or None


@dataclass(frozen=True)
class Filed(_Success):
    """A request is filed and waits for `approvals_required` approvals."""

    request_id: str
    role: str
    duration: timedelta
    approvals_required: int
    key: ClassVar[str] = "filed"
    DATA: ClassVar[tuple[str, ...]] = ("request_id",)


@dataclass(frozen=True)
class ScheduledFiled(_Success):
    """A request with a scheduled start is filed: approved ahead, its grant is made at `starts_at`. `zone` is
    the timezone its words were read in; `zone_known` is False when Slack gave none (UTC was used)."""

    request_id: str
    role: str
    duration: timedelta
    approvals_required: int
    starts_at: datetime
    zone: str = "UTC"
    zone_known: bool = True
    key: ClassVar[str] = "scheduled_filed"
    DATA: ClassVar[tuple[str, ...]] = ("request_id",)


@dataclass(frozen=True)
class AutoScheduled(_Success):
    """A scheduled request for an auto_approve role is approved at once; its grant is made at `starts_at`."""

    request_id: str
    role: str
    duration: timedelta
    starts_at: datetime
    zone: str = "UTC"
    zone_known: bool = True
    key: ClassVar[str] = "auto_scheduled"
    DATA: ClassVar[tuple[str, ...]] = ("request_id",)


@dataclass(frozen=True)
class ExtensionFiled(_Success):
    """An extension of grant `grant_id` by `duration` is filed and waits for approval."""

    request_id: str
    grant_id: str
    duration: timedelta
    key: ClassVar[str] = "extension_filed"
    DATA: ClassVar[tuple[str, ...]] = ("request_id",)


@dataclass(frozen=True)
class AutoApproved(_Success):
    """A request for an auto_approve role is approved at once and grant `grant_id` made."""

    request_id: str
    grant_id: str
    role: str
    duration: timedelta
    key: ClassVar[str] = "auto_approved"
    DATA: ClassVar[tuple[str, ...]] = ("request_id", "grant_id")


@dataclass(frozen=True)
class AutoExtended(_Success):
    """An extension on an auto_approve role is approved at once: grant `grant_id` lasts `duration` longer."""

    request_id: str
    grant_id: str
    duration: timedelta
    key: ClassVar[str] = "auto_extended"
    DATA: ClassVar[tuple[str, ...]] = ("request_id",)


@dataclass(frozen=True)
class Cancelled(_Success):
    """A pending request is withdrawn by the person who filed it."""

    request_id: str
    key: ClassVar[str] = "cancelled"


@dataclass(frozen=True)
class Revoking(_Success):
    """Grant `grant_id` of `role` is being revoked (Cloudflare is told by the outbox)."""

    grant_id: str
    role: str
    key: ClassVar[str] = "revoking"
    DATA: ClassVar[tuple[str, ...]] = ("grant_id",)


@dataclass(frozen=True)
class Denied(_Success):
    """An approver denied the request."""

    request_id: str
    code: ClassVar[str] = "denied"
    key: ClassVar[str] = "denied"


@dataclass(frozen=True)
class Approved(_Success):
    """The last approval needed is in: the request is approved and its access is being applied (or, with
    `starts_at`, approved ahead and applied at its scheduled start)."""

    request_id: str
    starts_at: datetime | None = None
    code: ClassVar[str] = "approved"
    key: ClassVar[str] = "approved"


@dataclass(frozen=True)
class Voted(_Success):
    """An approval is counted; `missing` more are needed."""

    request_id: str
    missing: int
    code: ClassVar[str] = "voted"
    key: ClassVar[str] = "voted"


@dataclass(frozen=True)
class BreakGlassGranted(_Success):
    """Break-glass: `role` is granted at once for `duration` (cut to the role's `cap` when `capped`), announced to
    the admins and the audit channel, and reviewed after."""

    request_id: str
    grant_id: str
    role: str
    duration: timedelta
    capped: bool
    cap: timedelta
    code: ClassVar[str] = "break_glass"
    key: ClassVar[str] = "break_glass_granted"
    DATA: ClassVar[tuple[str, ...]] = ("request_id", "grant_id")


@dataclass(frozen=True)
class Acknowledged(_Success):
    """An admin acknowledged (reviewed) break-glass grant `grant_id`; the review reminders stop."""

    grant_id: str
    role: str
    code: ClassVar[str] = "acknowledged"
    key: ClassVar[str] = "acknowledged"
    DATA: ClassVar[tuple[str, ...]] = ("grant_id",)


Done = (Filed | ExtensionFiled | AutoApproved | AutoExtended | Cancelled | Revoking | Denied | Approved | Voted
        | BreakGlassGranted | Acknowledged)
Done = Done | ScheduledFiled | AutoScheduled  # scheduled start
Outcome = Refused | Done
SUCCESSES: tuple[type, ...] = (Filed, ExtensionFiled, AutoApproved, AutoExtended, Cancelled, Revoking, Denied,
                               Approved, Voted, BreakGlassGranted, Acknowledged)
SUCCESSES += (ScheduledFiled, AutoScheduled)  # scheduled start
