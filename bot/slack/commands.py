"""`/access …`: reading what people type into a command, and answering it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.ids import ID_PATTERN, normalise_id
from bot.domain.model import VoteChoice
from bot.domain.outcomes import Outcome, Refused
from bot.domain.policy import Role, is_member
from bot.domain.start_times import meant_as_start, start_length
from bot.services import approval as approval_cases
from bot.services import audit_view, queries
from bot.services import breakglass as breakglass_cases
from bot.services import grants as grant_cases
from bot.services import requests as request_cases
from bot.services.context import Deps
from bot.slack import blocks as bk
from bot.slack.breakglass_command import Unreadable, parse_breakglass, role_and_duration
from bot.slack.render import slack_answer
from bot.slack.request_log import set_outcome
from bot.slack.text import cut, inert

ROLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

USAGE = {
    "request": "`/access request ROLE [DURATION] [at TIME] [REASON…]`, e.g. `/access request prod-db 2h incident 4211` "
               "or `/access request prod-db 2h at tomorrow 09:00 release`",
    "extend": "`/access extend GRANT_ID DURATION [REASON…]`, e.g. `/access extend g-7K3FMA9Q 1h still debugging`",
    "revoke": "`/access revoke GRANT_ID [REASON…]`",
    "cancel": "`/access cancel REQUEST_ID`",
    "approve": "`/access approve REQUEST_ID`",
    "deny": "`/access deny REQUEST_ID [REASON…]`, e.g. `/access deny r-9QXK7MA2 use the read replica`",
    "audit": "`/access audit [ROLE|@user] [N]`, e.g. `/access audit prod-db 50` or `/access audit @alice`",
}
# how a person may be named: a mention as Slack escapes it, a bare user ID, or @name as typed
MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$")
NUMBER = re.compile(r"^[0-9]+$")
PENDING_SHOWN = 30  # requests `/access pending` lists before saying how many more wait


@dataclass
class Reply:
    """What to answer the caller (always ephemeral)."""

    text: str
    blocks: list[dict[str, Any]] | None = None


def split(text: str) -> list[str]:
    """Words of the command text (any characters; Slack's own escaping of &, <, > is undone)."""
    unescaped = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return unescaped.split()


def rest_after(text: str, n: int) -> str:
    """The text after the first `n` words, spacing inside kept."""
    unescaped = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    s = unescaped.strip()
    for _ in range(n):
        parts = s.split(None, 1)
        s = parts[1] if len(parts) > 1 else ""
    return s.strip()


async def handle(deps: Deps, user: str, text: str) -> Reply:
    """Run one `/access` command for `user` and say what happened."""
    words = split(text)
    if not words or words[0].lower() in ("help", "-h", "--help", "?"):  # (empty text opens the modal: app.py)
        return Reply(bk.HELP)
    sub = words[0].lower()
    if sub == "request":
        return await _request(deps, user, words, text)
    if sub == "extend":
        return await _extend(deps, user, words, text)
    if sub == "list":
        return await _list(deps, user)
    if sub == "roles":
        return await _roles(deps, user, words[1:])
    if sub in ("revoke", "cancel", "approve", "deny"):
        kind = "grant" if sub == "revoke" else "request"
        ident = normalise_id(words[1]) if len(words) > 1 else ""
        if not ident:
            return await _refused(deps, user, "usage", f"say which one: {USAGE[sub]}")
        if not ID_PATTERN.match(ident) or ident[0] != kind[0]:
            example = "g-7K3FMA9Q" if kind == "grant" else "r-9QXK7MA2"
            where = "`/access pending` shows those waiting for you" if sub in ("approve", "deny") \
                else "`/access list` shows yours"
            return await _refused(deps, user, "bad_id", f"`{inert(cut(words[1], 40))}` is not a {kind} ID "
                                  f"(they look like `{example}`; {where}). {USAGE[sub]}")
        if sub == "revoke":
            out = await grant_cases.revoke(deps, user, ident, reason_text=rest_after(text, 2))
        elif sub == "cancel":
            out = await request_cases.cancel(deps, user, ident)
        else:
            choice = VoteChoice.APPROVE if sub == "approve" else VoteChoice.DENY
            out = await approval_cases.vote(deps, ident, user, choice, note=rest_after(text, 2))
        return _reply(out)
    if sub == "breakglass":
        return await _breakglass(deps, user, words)
    if sub == "pending":
        return await _pending(deps, user)
    if sub == "audit":
        return await _audit(deps, user, words[1:])
    return await _refused(deps, user, "unknown_command",
                          f"I don't know `{inert(cut(words[0], 40))}`. " + bk.HELP.split("\n", 1)[1])


def _reply(out: Outcome) -> Reply:
    set_outcome("ok" if out.ok else "refused")  # for the request's log line
    return Reply(slack_answer(out, capitalise=True))


async def _refused(deps: Deps, user: str, code: str, reason: str, role: str | None = None) -> Reply:
    """Audit a command the bot could not read (its code and these words) and answer with the words."""
    await request_cases.audit_refusal(deps, user, code, reason, role=role)
    set_outcome("refused")
    return Reply(f":warning: {reason[:1].upper()}{reason[1:]}")


async def _request(deps: Deps, user: str, words: list[str], text: str) -> Reply:
    read = role_and_duration(words, USAGE["request"], hint="; `/access roles` lists the roles")
    if isinstance(read, Unreadable):
        return await _refused(deps, user, read.code, read.problem, role=read.role)
    role, duration, skip = read
    start = None
    if meant_as_start(words[skip:]):  # `at TIME`: a scheduled start
        taken = start_length(words[skip + 1:])
        start = " ".join(words[skip + 1:skip + 1 + taken])
        skip += 1 + taken
    reason = rest_after(text, skip)
    return _reply(await request_cases.submit(deps, user, role, duration, reason, start=start))


async def _breakglass(deps: Deps, user: str, words: list[str]) -> Reply:
    ask = parse_breakglass(words)
    if isinstance(ask, Unreadable):
        return await _refused(deps, user, ask.code, ask.problem, role=ask.role)
    return _reply(await breakglass_cases.break_glass(deps, user, ask.role, ask.duration, ask.reason))


async def _extend(deps: Deps, user: str, words: list[str], text: str) -> Reply:
    if len(words) < 3:
        return await _refused(deps, user, "usage", f"say which grant and how long: {USAGE['extend']}")
    try:
        duration = parse_duration(words[2])
    except DurationError as exc:
        return await _refused(deps, user, "bad_duration", f"{inert(str(exc))}. {USAGE['extend']}")
    ident = normalise_id(words[1])
    if not ID_PATTERN.match(ident) or ident[0] != "g":
        return await _refused(deps, user, "bad_id", f"`{inert(cut(words[1], 40))}` is not a grant ID (they look "
                              f"like `g-7K3FMA9Q`; `/access list` shows yours). {USAGE['extend']}")
    return _reply(await request_cases.submit_extend(deps, user, ident, duration, rest_after(text, 3)))


async def _list(deps: Deps, user: str) -> Reply:
    mine = await queries.my_access(deps, user)
    grants, requests = mine.grants, mine.requests
    blocks = bk.grants_and_requests(grants, requests, deps.clock.now())
    summary = f"{len(grants)} grant(s), {len(requests)} pending request(s)"
    return Reply(summary, blocks)


async def requestable_roles(deps: Deps, user: str) -> list[Role]:
    """The roles this user may request (requesters allow-lists applied), in policy order."""
    allowed = []
    for role in deps.policy.roles.values():
        if role.requesters and user not in role.requesters:
            groups = await deps.directory.user_groups_of(user, tuple(a for a in role.requesters if a[0] == "S"))
            if not is_member(user, role.requesters, groups):
                continue
        allowed.append(role)
    return allowed


async def _roles(deps: Deps, user: str, args: list[str]) -> Reply:
    if args and not (NUMBER.match(args[0]) and len(args[0]) <= 6):
        return await _refused(deps, user, "usage", f"`{inert(cut(args[0], 40))}` is not a page number: "
                              "`/access roles` or `/access roles 2`")
    page = int(args[0]) if args else 1
    return Reply(bk.roles_text(deps.policy, await requestable_roles(deps, user), page))


async def _pending(deps: Deps, user: str) -> Reply:
    waiting = await queries.waiting_for(deps, user)
    if not waiting:
        return Reply("No requests are waiting for you.")
    lines = ["*Waiting for your decision*"] + [
        f"• `{r.id}` <@{r.requester}> — *{r.role}* for {format_duration(r.duration)}"
        f"{', starting ' + bk.when(r.starts_at) if r.starts_at else ''}: "
        f"{inert(cut(r.reason, 200))}" for r in waiting[:PENDING_SHOWN]]
    if len(waiting) > PENDING_SHOWN:
        lines.append(f"…and {len(waiting) - PENDING_SHOWN} more (oldest first above); App Home lists them too.")
    lines.append("Decide with the buttons on each request, or `/access approve REQUEST_ID` / "
                 "`/access deny REQUEST_ID [REASON…]`.")
    return Reply("\n".join(lines))


async def _audit(deps: Deps, user: str, args: list[str]) -> Reply:
    query, scope = audit_view.AuditQuery(), ""
    if deps.policy.is_admin(user):  # names are looked up in Slack only for someone who may read the log
        query, scope, problem = await _audit_query(deps, args)
        if problem:
            return await _refused(deps, user, "usage", f"{problem}. {USAGE['audit']}")
    found = await audit_view.recent_events(deps, user, query)
    if isinstance(found, Refused):
        return _reply(found)
    return Reply(bk.audit_text(found, scope))


async def _audit_query(deps: Deps, args: list[str]) -> tuple[audit_view.AuditQuery, str, str]:
    """The query `audit` words ask for, a phrase naming its scope, and what is wrong with them (or "")."""
    nothing = audit_view.AuditQuery()
    limit, role, person, scope, counted = audit_view.DEFAULT_EVENTS, None, None, "", False
    if len(args) > 2:
        return nothing, "", "give at most a role or a person, and a number"
    for word in args:
        shown = inert(cut(word, 40))
        if NUMBER.match(word):
            if counted:
                return nothing, "", "give one number"
            counted = True
            limit = int(word) if len(word) <= 9 else 0
            if not 1 <= limit <= audit_view.MAX_EVENTS:
                return nothing, "", f"N is 1 to {audit_view.MAX_EVENTS}, not `{shown}`"
            continue
        if role or person:
            return nothing, "", f"`{shown}`: give a role or a person, not both"
        mention = MENTION.match(word)
        if mention or bk.USER_ID.match(word):
            person = mention.group(1) if mention else word
        elif word.startswith("@") and len(word) > 1:
            ids = await deps.directory.find_by_name(word[1:])
            if len(ids) != 1:
                who = "nobody in Slack is called" if not ids else f"{len(ids)} people in Slack are called"
                return nothing, "", f"{who} `{shown}`; name them by user ID (`U…`) instead"
            person = ids[0]
        elif ROLE_NAME.match(word):
            role = word
            scope = f" for role `{role}`" + ("" if role in deps.policy.roles else " (not in the policy now)")
        else:
            return nothing, "", f"`{shown}` is neither a role, a person nor a number"
        if person:
            scope = f" about <@{person}>"
    return audit_view.AuditQuery(role=role, user_id=person, limit=limit), scope, ""
