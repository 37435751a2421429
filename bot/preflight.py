"""Start-up checks of the bot's credentials, before `serve` says it is listening.

- Slack: `auth.test` with the bot token. A refused token (invalid_auth, not_authed, token_revoked,
  account_inactive, …), a `missing_scope` error, or an `x-oauth-scopes` header without one of the
  manifest's bot scopes refuses the start.
- Cloudflare: a GET of every role's Access group (an account with LIST_FROM of them or more: the account's
  groups listed, a page for 50, and a GET only for those the pages did not settle). A 401/403 (the token, or
  its permissions) or a group Cloudflare does not know (404, or any other refusal) refuses the start.
- Slack or Cloudflare out of reach (timeout, 5xx, connection refused) is a warning: it may be a blip, and the
  outbox retries everything the bot owes.

(Socket Mode's `apps.connections.open` with the app token is checked as the connection opens, by
`bot.slack.socket_mode.SocketModeRunner.start`, also before "listening".)

Refusals are raised as one `ConfigError` line naming the variable or the policy place; warnings are returned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError
from bot.credentials import CLOUDFLARE_AUTH_CODES, SLACK_TOKEN_ERRORS
from bot.domain.errors import ExternalError, TransientError
from bot.domain.membership import list_of
from bot.domain.policy import Policy
from bot.domain.ports import AccessGroups

log = logging.getLogger(__name__)

# manifest.yml's bot scopes (a test keeps the two in step).
# An account with this many roles' Access groups or more has its groups listed (50 a page, as few pages as
# find them all) instead of fetched one by one: start-up with 50 roles takes one call, not 50 that the
# Cloudflare budget spaces out (bot.domain.budget).
LIST_FROM = 4
REQUIRED_SCOPES = ("commands", "chat:write", "im:write", "users:read", "users:read.email", "usergroups:read")


async def check_slack(client: AsyncWebClient) -> list[str]:
    """auth.test with the bot token: raise ConfigError when Slack refuses it or it lacks a scope; warnings else."""
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        resp = exc.response
        error = str(resp.get("error", "")) if resp is not None else ""
        status = getattr(resp, "status_code", None)
        if error in SLACK_TOKEN_ERRORS:
            raise ConfigError(f"SLACK_BOT_TOKEN: Slack refused it ({error}; use the app's Bot User OAuth Token, "
                              "xoxb-…, from OAuth & Permissions)") from None
        if error == "missing_scope":
            needed = str(resp.get("needed") or "a scope")
            raise ConfigError(_missing_scopes_line([needed])) from None
        return [f"could not check SLACK_BOT_TOKEN with auth.test (Slack answered {error or f'HTTP {status}'}); "
                "starting anyway"]
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return [f"could not check SLACK_BOT_TOKEN: Slack is out of reach ({type(exc).__name__}); starting anyway"]
    granted = _header(response.headers, "x-oauth-scopes")
    if granted is not None:
        have = {s.strip() for s in granted.split(",") if s.strip()}
        missing = [s for s in REQUIRED_SCOPES if s not in have]
        if missing:
            raise ConfigError(_missing_scopes_line(missing))
    return []


def _missing_scopes_line(missing: Iterable[str]) -> str:
    scopes = ", ".join(missing)
    return (f"SLACK_BOT_TOKEN: the token lacks the bot scope(s) {scopes} (add them under OAuth & Permissions, "
            "or install manifest.yml, then reinstall the app)")


def _header(headers: Any, name: str) -> str | None:
    """A response header by case-insensitive name (slack_sdk hands on aiohttp's multidict or a plain dict)."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return None


async def _look_up(groups: AccessGroups, account_id: str, target: str) -> str | None:
    """GET a role's group or Zero Trust list; the problem with a list that is not of type EMAIL, else None."""
    list_id = list_of(target)
    if list_id is None:
        await groups.get_group(account_id, target)
        return None
    found = await groups.get_list(account_id, list_id)
    if found.get("type") != "EMAIL":
        return (f"Cloudflare's Zero Trust list {list_id} in account {account_id} is of type {found.get('type')}, "
                f"not EMAIL (an Access group's email_list rule needs a list of emails)")
    return None


async def _listed(groups: AccessGroups, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """What listing says of the roles' groups in accounts with LIST_FROM of them or more: None for a group
    found, the problem for one the whole listing lacks; groups it could not settle (a listing cut short or
    refused) are left out, to be fetched one by one."""
    find = getattr(groups, "find_groups", None)
    by_account: dict[str, list[str]] = {}
    for account_id, target in keys:
        if list_of(target) is None:
            by_account.setdefault(account_id, []).append(target)
    known: dict[tuple[str, str], str | None] = {}
    for account_id, ids in by_account.items():
        if find is None or len(ids) < LIST_FROM:
            continue
        try:  # at most half as many calls as GETs of each group would take
            seen, complete = await find(account_id, ids, max_pages=max(1, len(ids) // 2))
        except ExternalError:
            continue  # the GETs one by one say what is wrong, group by group
        for target in ids:
            if target in seen:
                known[(account_id, target)] = None
            elif complete:
                known[(account_id, target)] = (f"Cloudflare has no Access group {target} in account {account_id} "
                                               "(it is not among the account's groups)")
    return known


def _refusal(place: str, role_name: str, target: str, account_id: str, result: ExternalError) -> tuple[bool, str]:
    """(whether the token is the problem, the line saying what Cloudflare refused)."""
    answer = _answer(result)
    codes = {e.get("code") for e in result.errors}
    list_id = list_of(target)
    noun, ident = ("list", list_id) if list_id else ("group", target)
    if result.status in (401, 403) or codes & CLOUDFLARE_AUTH_CODES:
        return True, (f"CLOUDFLARE_API_TOKEN: Cloudflare refused it ({answer} for the {noun} of {role_name}; the "
                      "token needs Access: Organizations, Identity Providers, and Groups: Edit"
                      f"{' and Zero Trust: Edit' if list_id else ''})")
    if result.status == 404:
        what = f"Zero Trust list {list_id}" if list_id else f"Access group {target}"
        return False, f"{place}: Cloudflare has no {what} in account {account_id} ({answer})"
    return False, f"{place}: Cloudflare refused GET {noun} {ident} in account {account_id} ({answer})"


async def check_cloudflare(groups: AccessGroups, policy: Policy) -> list[str]:
    """GET every role's Access group or Zero Trust list: raise ConfigError for a refused token, an unknown group
    or list, or a list not of type EMAIL; warnings else."""
    wanted: dict[tuple[str, str], list[str]] = {}
    for role in policy.roles.values():
        wanted.setdefault((role.account_id, role.target), []).append(role.name)
    keys = list(wanted)
    known = await _listed(groups, keys)
    rest = [k for k in keys if k not in known]
    fetched = dict(zip(rest, await asyncio.gather(*(_look_up(groups, a, t) for a, t in rest),
                                                   return_exceptions=True), strict=True))
    results = [known[k] if k in known else fetched[k] for k in keys]
    token_refusals: list[str] = []
    group_refusals: list[str] = []
    unreachable: list[tuple[str, TransientError]] = []
    for (account_id, target), result in zip(keys, results, strict=True):
        roles = wanted[(account_id, target)]
        list_id = list_of(target)
        key = "list_id" if list_id else "group_id"
        place = f"roles.{roles[0]}.{key}" + (f" (also {', '.join(roles[1:])})" if roles[1:] else "")
        if isinstance(result, TransientError):
            unreachable.append((place, result))
        elif isinstance(result, ExternalError):
            token, line = _refusal(place, f"roles.{roles[0]}", target, account_id, result)
            (token_refusals if token else group_refusals).append(line)
        elif isinstance(result, str):
            group_refusals.append(f"{place}: {result}")
        elif isinstance(result, BaseException):
            raise result
    if token_refusals:  # the token is the problem: one line says it, whichever group showed it
        raise ConfigError(token_refusals[0])
    if group_refusals:
        more = f" (and {len(group_refusals) - 1} more: {'; '.join(group_refusals[1:])})" \
            if len(group_refusals) > 1 else ""
        raise ConfigError(group_refusals[0] + more)
    if not unreachable:
        return []
    places = ", ".join(place for place, _ in unreachable)
    return [f"could not check {places} at Cloudflare ({unreachable[0][1]}); starting anyway"]


def _answer(exc: ExternalError) -> str:
    """`HTTP 404: 7003 Could not route…`: what Cloudflare answered, without the request repeated."""
    errors = "; ".join(f"{e.get('code')} {e.get('message')}".strip() for e in exc.errors)
    status = f"HTTP {exc.status}" if exc.status is not None else "no HTTP status"
    return f"{status}: {errors[:300]}" if errors else status


async def preflight(slack: AsyncWebClient, groups: AccessGroups, policy: Policy) -> list[str]:
    """Both checks (Slack first, then Cloudflare); the warnings are logged and returned."""
    warnings = await check_slack(slack)
    warnings += await check_cloudflare(groups, policy)
    for warning in warnings:
        log.warning("start-up check: %s", warning)
    return warnings
