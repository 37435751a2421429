"""Helpers for the scenario tests: the whole bot on loopback, driven only as Slack drives it.

Time is a `ManualClock`: a test moves it with `advance()`, which wakes the scheduler and waits until
the bot has done everything that fell due (`settle()`), so an hour-long grant takes milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import timedelta
from typing import Any

from bot.domain.clock import ManualClock
from bot.domain.model import AccessRequest, Grant, RequestState
from bot.polling import eventually
from bot.simulators.stack import ACCOUNT, PROD_GROUP, STAGING_GROUP, Stack
from bot.storage.store import Tx
from tests.policies import policy_text, role
from tests.policies import policy_with as add_roles

SECRETS_GROUP = "5b2c7d10-1a2b-4c3d-8e9f-0a1b2c3d4e01"
SHARED_GROUP = "5b2c7d10-1a2b-4c3d-8e9f-0a1b2c3d4e02"
DM_GROUP = "5b2c7d10-1a2b-4c3d-8e9f-0a1b2c3d4e03"

APPROVAL_CHANNEL = "C0APPROVE"
AUDIT_CHANNEL = "C0AUDIT1"
ALICE, BOB, CAROL, DANA, MALLORY = "U0ALICE", "U0APPR01", "U0APPR02", "U0ADMIN1", "U0MALLORY"
ALICE_EMAIL = "alice@example.com"

APPROVE, DENY, REVOKE, CANCEL, EXTEND = "access_approve", "access_deny", "access_revoke", "access_cancel", \
    "access_extend"

BASE_ROLES = {
    "prod-db": role(PROD_GROUP, description="Production database console", approvers=["U0APPR01", "S0SRETEAM"],
                    approval_channel=APPROVAL_CHANNEL, revoke_sessions=True),
    "staging": role(STAGING_GROUP, description="Staging dashboards", auto_approve=True, require_reason=False),
    "secrets": role(SECRETS_GROUP, description="The secrets vault", approvers=["U0APPR01"],
                    approval_channel=APPROVAL_CHANNEL, requesters=["S0ENGINEERS", "U0ADMIN1"]),
}
BASE_DEFAULTS = {"min_duration": "1m", "default_duration": "1h", "max_duration": "8h", "warn_before": "10m",
                 "request_timeout": "1h"}


def base_policy(audit_channel: str | None = None, **defaults: Any) -> str:
    """The base policy (prod-db with approvals, staging auto-approved, secrets restricted), with these defaults
    changed and, given one, an audit channel."""
    return policy_text(BASE_ROLES, defaults={**BASE_DEFAULTS, **defaults}, audit_channel=audit_channel)


BASE_POLICY = base_policy()

# The same with an audit channel: every audit event is also a one-line post in Slack (slower: only the tests
# that look at the audit channel or at admin alerts use it).
AUDITED_POLICY = base_policy(AUDIT_CHANNEL)


def policy_with(extra_roles: str, base: str = BASE_POLICY) -> str:
    """The base policy plus more roles (YAML written at the indentation of a role name: two spaces)."""
    return add_roles(extra_roles, base)


TWO_APPROVALS = policy_with(f"""
two-man:
  description: Needs two approvers
  group_id: {DM_GROUP}
  account_id: {ACCOUNT}
  approvers: [U0APPR01, U0APPR02, U0ADMIN1]
  approval_channel: {APPROVAL_CHANNEL}
  approvals_required: 2
""")

SELF_APPROVAL = policy_with(f"""
self-ok:
  description: Approvers may approve their own requests
  group_id: {DM_GROUP}
  account_id: {ACCOUNT}
  approvers: [U0APPR01]
  approval_channel: {APPROVAL_CHANNEL}
  allow_self_approval: true
""")

DM_MODE = policy_with(f"""
by-dm:
  description: Approvers are asked directly
  group_id: {DM_GROUP}
  account_id: {ACCOUNT}
  approvers: [U0APPR01, S0SRETEAM]  # U0APPR02 through the user group
""")


# ---- waiting -------------------------------------------------------------------------------------

wait_until = eventually  # poll a sync or async predicate until truthy; fail after `timeout` seconds of real time


async def settle(stack: Stack, timeout: float = 10.0) -> None:
    """Wait until the bot has done everything due by its clock: listeners still running after their ack,
    timers (expiries, warnings, request timeouts) and outbox effects. Effects waiting for a later retry
    are not due and do not count. The scheduler is nudged only while something is due and nothing runs,
    and the checks read on their own connection, so the waiting does not slow the bot down."""
    sched = stack.bot.scheduler
    in_flight = stack.bot.ingress.in_flight
    deadline = time.monotonic() + timeout
    quiet = 0
    sched.wake()
    while quiet < 2:
        if time.monotonic() > deadline:
            raise AssertionError("the bot did not settle")
        await asyncio.sleep(0.005)
        if in_flight or sched._tasks or sched._running_keys:  # noqa: SLF001 - test harness
            quiet = 0
            continue
        if await _anything_due(stack):
            quiet = 0
            sched.wake()
        else:
            quiet += 1


async def _anything_due(stack: Stack) -> bool:
    store = stack.bot.deps.store
    now = stack.bot.deps.clock.now()
    async with store.engine.connect() as conn:
        tx = Tx(conn, store.clock, store.pg)
        return bool(await tx.outbox.due_effects(now, limit=1) or await tx.grants.due_expiries(now, limit=1)
                    or await tx.grants.due_warnings(now, limit=1) or await tx.requests.due_expiries(now, limit=1)
                    or await tx.requests.due_starts(now, limit=1)  # scheduled starts
                    or await tx.requests.due_reminders(now, limit=1) or await tx.requests.due_escalations(now, limit=1)
                    or await tx.grants.due_reviews(now, limit=1))


async def advance(stack: Stack, clock: ManualClock, delta: timedelta) -> None:
    """Move the bot's clock forward and let it do what fell due."""
    clock.advance(delta)
    await settle(stack)


# ---- Slack side --------------------------------------------------------------------------------

async def slash(stack: Stack, user: str, text: str) -> dict[str, Any]:
    """`/access TEXT` as `user`; returns the one ephemeral reply it produced (after the bot settled)."""
    before = len(stack.slack.ephemerals(user))
    resp = await stack.driver.slash(user, text)
    assert resp.status == 200, resp.body
    assert resp.elapsed < 3, f"ack took {resp.elapsed:.3f}s"
    await settle(stack)
    replies = stack.slack.ephemerals(user)[before:]
    assert len(replies) == 1, f"expected one ephemeral reply to {text!r}, got {replies}"
    return replies[0]


async def click(stack: Stack, user: str, message: dict[str, Any], action_id: str, **kw: Any) -> dict[str, Any] | None:
    """Click a button as `user` and return the ephemeral answer the click produced (None if none)."""
    before = len(stack.slack.ephemerals(user))
    resp = await stack.driver.click(user, message, action_id, **kw)
    assert resp.status == 200, resp.body
    assert resp.elapsed < 3
    await settle(stack)
    replies = stack.slack.ephemerals(user)[before:]
    return replies[-1] if replies else None


def top_level(stack: Stack, channel: str) -> list[dict[str, Any]]:
    """Messages posted in a channel (or a user's DM) that are not thread replies."""
    return [m for m in stack.slack.messages(channel) if not m["thread_ts"]]


AUDIT_SEQ = re.compile(r"^(?:<!date\^[^>]*> )?`#(\d+)` ", re.MULTILINE)


def audit_lines(stack: Stack, channel: str = AUDIT_CHANNEL) -> list[int]:
    """The audit events (by seq) the audit channel's lines show, in the order shown: a single line is a
    message's text, a digest's lines are its sections' lines."""
    seqs: list[int] = []
    for m in stack.slack.messages(channel):
        texts = [b["text"]["text"] for b in m["blocks"] if b.get("type") == "section"] if m["blocks"] else [m["text"]]
        seqs += [int(seq) for text in texts for seq in AUDIT_SEQ.findall(text)]
    return seqs


async def approval_message(stack: Stack, channel: str = APPROVAL_CHANNEL, index: int = -1) -> dict[str, Any]:
    """The approval message posted in `channel` (a user id means their DM)."""
    msgs = await wait_until(lambda: [m for m in top_level(stack, channel) if has_buttons(m)] or None, 5,
                            f"an approval message in {channel}")
    return msgs[index]


def has_buttons(message: dict[str, Any] | None) -> bool:
    """True when the message still has an actions block."""
    return bool(message) and any(b.get("type") == "actions" for b in message.get("blocks") or [])


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button element of a message (actions blocks and accessories)."""
    out = []
    for b in message.get("blocks") or []:
        if b.get("type") == "actions":
            out.extend(e for e in b.get("elements") or [] if e.get("type") == "button")
        acc = b.get("accessory")
        if isinstance(acc, dict) and acc.get("type") == "button":
            out.append(acc)
    return out


def text_objects(obj: Any) -> list[tuple[str, str]]:
    """(type, text) of every text object (plain_text / mrkdwn) anywhere in blocks."""
    found: list[tuple[str, str]] = []
    if isinstance(obj, dict):
        if obj.get("type") in ("plain_text", "mrkdwn") and isinstance(obj.get("text"), str):
            found.append((obj["type"], obj["text"]))
        for v in obj.values():
            found.extend(text_objects(v))
    elif isinstance(obj, list):
        for v in obj:
            found.extend(text_objects(v))
    return found


def all_text(message: dict[str, Any]) -> str:
    """The message text and every text in its blocks, joined (for 'does it mention X' checks)."""
    return "\n".join([message.get("text") or ""] + [t for _, t in text_objects(message.get("blocks") or [])])


def formatted_texts(message: dict[str, Any]) -> list[str]:
    """Every string Slack renders as mrkdwn: the top-level text and mrkdwn text objects."""
    return [message.get("text") or ""] + [t for k, t in text_objects(message.get("blocks") or []) if k == "mrkdwn"]


DANGEROUS = ("<!channel>", "<!here>", "<@U0APPR01>", "<https://evil.example|click>", "*bold*", "_it_", "~strike~")


def live_markup(text: str, dangerous: tuple[str, ...] = DANGEROUS) -> list[str]:
    """The dangerous sequences that appear verbatim in mrkdwn text, so would ping, link or format.

    `<…>` sequences count anywhere (Slack parses them even in code spans); formatting (`*bold*`…) only
    outside code spans. A bare `&` counts too (Slack wants `&amp;`)."""
    outside_code = re.sub(r"`[^`\n]*`", "", text)
    hits = [d for d in dangerous if d in (text if d.startswith("<") else outside_code)]
    if re.search(r"&(?!amp;|lt;|gt;)", text):
        hits.append("&")
    return hits


# ---- Cloudflare side -----------------------------------------------------------------------------

def emails(stack: Stack, group_id: str = PROD_GROUP, account_id: str = ACCOUNT) -> list[str]:
    """Emails with a plain email rule in the group's include, in order."""
    group = stack.cloudflare.group(account_id, group_id)
    return [r["email"]["email"] for r in group["include"]
            if isinstance(r, dict) and set(r) == {"email"} and isinstance(r["email"], dict)]


def group_calls(stack: Stack, group_id: str, since: int = 0) -> list[Any]:
    """Calls to one group's path (GET/PUT), from index `since` of the simulator's call log."""
    return [c for c in stack.cloudflare.calls[since:] if c.path.split("?")[0].endswith(f"/access/groups/{group_id}")]


# ---- database ------------------------------------------------------------------------------------

async def audit(stack: Stack, action: str | None = None) -> list[dict[str, Any]]:
    async with stack.bot.deps.store.tx() as tx:
        return await tx.audit.rows(action=action)


async def grants(stack: Stack, **filters: Any) -> list[Grant]:
    async with stack.bot.deps.store.tx() as tx:
        return await tx.grants.find(**filters)


async def request(stack: Stack, request_id: str) -> AccessRequest:
    async with stack.bot.deps.store.tx() as tx:
        req = await tx.requests.get(request_id)
    assert req is not None, request_id
    return req


async def only_request(stack: Stack, user: str, state: RequestState = RequestState.PENDING) -> AccessRequest:
    async with stack.bot.deps.store.tx() as tx:
        reqs = await tx.requests.of(user, state)
    assert len(reqs) == 1, reqs
    async with stack.bot.deps.store.tx() as tx:
        req = await tx.requests.get(reqs[0].id)
    assert req is not None
    return req


async def all_requests(stack: Stack) -> list[AccessRequest]:
    out = []
    async with stack.bot.deps.store.tx() as tx:
        for state in RequestState:
            for uid in (ALICE, BOB, CAROL, DANA, MALLORY, "U0BOTTY", "U0GUEST", "U0GONE", "U0NOMAIL"):
                out.extend(await tx.requests.of(uid, state))
    return out


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)
