"""Membership plans: an Access group's read-modify-write (only the bot's own rules), a Zero Trust list's PATCH."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.model import Grant, GrantState
from bot.domain.policy import LIST_TARGET

# Fields Cloudflare returns that are not part of a PUT body.
_READ_ONLY = ("id", "created_at", "updated_at", "uid")


def needs_membership(grant: Grant, now: datetime) -> bool:
    """True when this grant, at `now`, needs its email in the group: the one rule every writer follows.

    An active grant needs it only while its time runs (`expires_at` still ahead): one whose end passed
    while nobody swept it (the bot was down) needs nothing. A pending grant was approved and waits for
    Cloudflare to confirm the add; its time starts then, so it needs the email. Revoking, revoked and
    failed grants need nothing."""
    if grant.state is GrantState.PENDING:
        return True
    return grant.state is GrantState.ACTIVE and grant.expires_at is not None and grant.expires_at > now


def needed_emails(grants: Iterable[Grant], now: datetime) -> set[str]:
    """Lower-cased emails that some grant still in its time needs in the group (see `needs_membership`)."""
    return {g.email.lower() for g in grants if needs_membership(g, now)}


def email_of_rule(rule: Any) -> str | None:
    """The email of a plain `{"email": {"email": x}}` rule, else None (any other rule is foreign)."""
    if isinstance(rule, dict) and set(rule) == {"email"} and isinstance(rule["email"], dict):
        inner = rule["email"]
        if set(inner) == {"email"} and isinstance(inner["email"], str):
            return inner["email"]
    return None


def email_rule(email: str) -> dict[str, Any]:
    """The include rule that grants one email."""
    return {"email": {"email": email}}


def emails_in(group: dict[str, Any]) -> set[str]:
    """Lower-cased emails with a plain email rule in the group's include."""
    return {e.lower() for e in (email_of_rule(r) for r in group.get("include") or []) if e}


@dataclass(frozen=True)
class GroupChange:
    """What a read-modify-write will do to one group."""

    body: dict[str, Any]
    added: frozenset[str]
    removed: frozenset[str]
    already_present: frozenset[str]

    @property
    def changed(self) -> bool:
        """True when a PUT is needed."""
        return bool(self.added or self.removed)


def plan_group_change(group: dict[str, Any], add: set[str], remove: set[str]) -> GroupChange:
    """The PUT body that adds `add` and removes `remove` (emails) and keeps every other rule as it was.

    Foreign rules keep their order and content; a removed email rule is dropped where it stood; added
    rules are appended. Adding an email already present, or removing one already gone, is a no-op.
    Emails compare case-insensitively, as Cloudflare matches them.
    """
    add_l = {e.lower() for e in add}
    remove_l = {e.lower() for e in remove} - add_l
    present = emails_in(group)
    body = {k: copy.deepcopy(v) for k, v in group.items() if k not in _READ_ONLY}
    include = []
    removed: set[str] = set()
    for rule in group.get("include") or []:
        email = email_of_rule(rule)
        if email is not None and email.lower() in remove_l:
            removed.add(email.lower())
            continue
        include.append(copy.deepcopy(rule))
    added = set()
    for email in sorted(add):
        if email.lower() not in present and email.lower() not in added:
            include.append(email_rule(email))
            added.add(email.lower())
    body["include"] = include
    body.setdefault("name", group.get("name", ""))
    return GroupChange(body, frozenset(added), frozenset(removed), frozenset(present & add_l))


def list_of(target: str) -> str | None:
    """The Zero Trust list ID a grant's target names (`list:<id>`), or None when the target is a group."""
    return target[len(LIST_TARGET):] if target.startswith(LIST_TARGET) else None


@dataclass(frozen=True)
class ListChange:
    """What one PATCH of a Zero Trust EMAIL list will do: no read first, so no knowledge of what is there."""

    append: tuple[str, ...]
    remove: tuple[str, ...]

    @property
    def changed(self) -> bool:
        """True when a PATCH is needed."""
        return bool(self.append or self.remove)


def plan_list_change(add: set[str], remove: set[str]) -> ListChange:
    """The PATCH that appends `add` and removes `remove` (lower-cased, sorted; an email in both stays).

    Emails compare case-insensitively, as Cloudflare matches them; an email both to add and to remove is
    only appended (a grant needs it)."""
    add_l = {e.lower() for e in add}
    remove_l = {e.lower() for e in remove} - add_l
    return ListChange(tuple(sorted(add_l)), tuple(sorted(remove_l)))


def list_item_values(items: Iterable[Any]) -> set[str]:
    """Lower-cased `value`s of a list's items (as GET .../items returns them); anything odd is skipped."""
    return {i["value"].lower() for i in items if isinstance(i, dict) and isinstance(i.get("value"), str)}
