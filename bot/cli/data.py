"""The commands on the database: db upgrade/current, grants, audit export/verify/checkpoint, revoke, reconcile."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bot.cli.codes import EXIT_CONFIG, EXIT_OK, EXIT_PROBLEM

# A command on a migrated database: given the store, the settings and the arguments, returns the exit code.
StoreCommand = Callable[[Any, Any, argparse.Namespace], Awaitable[int]]


async def db_command(args: argparse.Namespace) -> int:
    """`accessbot db upgrade | current`: migrate (upgrade only), then print the revision."""
    from bot.bootstrap import open_store
    from bot.config.settings import load_settings
    from bot.domain.clock import SystemClock
    from bot.storage.migrate import current, head, upgrade

    settings = load_settings()
    if args.db_cmd != "upgrade" and _refuse_new_sqlite_file(settings.database_url):
        return EXIT_CONFIG
    store = await open_store(settings.database_url, SystemClock(), migrate=False)
    try:
        if args.db_cmd == "upgrade":
            await upgrade(store.engine)
        rev = await current(store.engine)
        print(f"{rev or 'empty'}{' (head)' if rev == head() else ''}")
        return EXIT_OK
    finally:
        await store.engine.dispose()


def on_store(run: StoreCommand) -> Callable[[argparse.Namespace], Awaitable[int]]:
    """The argparse `func` of a command that works on the database as it is: it refuses a database that is
    missing (a SQLite file that does not exist) or not at the newest revision, then runs `run`."""

    async def command(args: argparse.Namespace) -> int:
        """Open the store, check its revision, run the command, close the store."""
        from bot.bootstrap import open_store
        from bot.config.settings import load_settings
        from bot.domain.clock import SystemClock
        from bot.storage.migrate import current, head

        settings = load_settings()
        if _refuse_new_sqlite_file(settings.database_url):
            return EXIT_CONFIG
        store = await open_store(settings.database_url, SystemClock(), migrate=False)
        try:
            rev = await current(store.engine)
            if rev != head():
                state = "has no schema yet" if rev is None else f"is at revision {rev}, not {head()}"
                print(f"accessbot: the database {state}; run `accessbot db upgrade` (serve does it at start)",
                      file=sys.stderr)
                return EXIT_CONFIG
            return await run(store, settings, args)
        finally:
            await store.engine.dispose()

    return command


def _refuse_new_sqlite_file(database_url: str) -> bool:
    """True (after one line on stderr naming the absolute path) when DATABASE_URL names a SQLite file that
    does not exist: a command that only reads would create an empty database there (run from the wrong folder)."""
    from bot.storage.engine import sqlite_file

    path = sqlite_file(database_url)
    if path is None or path.exists():
        return False
    print(f"accessbot: warning: there is no database at {path} (DATABASE_URL), and this command would create an "
          "empty one there; run it from the folder that holds accessbot.db, set DATABASE_URL, or create it with "
          "`accessbot db upgrade`", file=sys.stderr)
    return True


def _since(text: str | None) -> str | None:
    """The audit `at` spelling of an ISO 8601 time (UTC when no offset is given); "" when unreadable."""
    if not text:
        return None
    from datetime import UTC, datetime

    from bot.domain.audit import format_at

    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return format_at(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


async def grants(store: Any, _settings: Any, args: argparse.Namespace) -> int:
    """`accessbot grants`: the grants as a table, or as JSON lines."""
    from bot.domain.model import GrantState
    from bot.domain.records import grant_record

    async with store.tx() as tx:
        found = await tx.grants.find(states=(GrantState.ACTIVE,) if args.active else None, email=args.user,
                                role=args.role)
    rows = [grant_record(g) for g in found]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return EXIT_OK
    cols = ["id", "role", "email", "state", "granted_at", "expires_at", "revoked_at"]
    table = [[str(r[c] or "—") for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) if table else len(c) for i, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)))
    for t in table:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)))
    if not rows:
        print("(no grants)")
    return EXIT_OK


async def audit_export(args: argparse.Namespace) -> int:
    """`accessbot audit export`: the audit log to stdout, oldest first (an unreadable --since is a usage error,
    refused before the database is opened)."""
    args.since_at = _since(args.since)
    if args.since_at == "":
        print(f"accessbot: --since {args.since[:60]!r} is not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)",
              file=sys.stderr)
        return EXIT_CONFIG
    return await on_store(_export)(args)


async def _export(store: Any, _settings: Any, args: argparse.Namespace) -> int:
    """Stream the audit rows as JSON lines or CSV, a page at a time (never the whole log in memory)."""
    from bot.domain.audit import FIELDS

    out = sys.stdout
    async with store.read() as tx:
        if args.format == "jsonl":
            async for row in tx.audit.stream(since_at=args.since_at):
                out.write(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False) + "\n")
        else:
            w = csv.writer(out)
            w.writerow(FIELDS)
            async for row in tx.audit.stream(since_at=args.since_at):
                w.writerow([json.dumps(row[k], sort_keys=True) if k == "details" else row[k] for k in FIELDS])
    return EXIT_OK


async def audit_checkpoints(store: Any, settings: Any, args: argparse.Namespace) -> int:
    """`accessbot audit verify | checkpoint | checkpoints` (bot.checkpoint_cli)."""
    from bot import checkpoint_cli

    run = checkpoint_cli.verify if args.audit_cmd == "verify" else checkpoint_cli.checkpoint
    return await run(store, settings, args)


async def revoke(store: Any, settings: Any, args: argparse.Namespace) -> int:
    """`accessbot revoke GRANT`: mark the grant for removal (the running bot removes it at Cloudflare)."""
    from bot.bootstrap import wire
    from bot.cli_render import cli_text
    from bot.config.policy_file import load_policy
    from bot.domain.ids import normalise_id
    from bot.services.grants import revoke as revoke_grant

    policy = load_policy(settings.accessbot_policy, settings.cloudflare_account_id)
    wiring = await wire(settings, policy, store=store)
    try:
        out = await revoke_grant(wiring.deps, "cli", normalise_id(args.grant_id), reason_text=args.reason, via="cli")
    finally:
        await wiring.close_clients()
    message = cli_text(out)
    if not out.ok:
        print(f"accessbot: {message}", file=sys.stderr)
        return EXIT_PROBLEM
    print(f"{message} The running bot removes it at Cloudflare within seconds.")
    return EXIT_OK


async def reconcile(store: Any, settings: Any, args: argparse.Namespace) -> int:
    """`accessbot reconcile [--fix]`: print the drift report; exit 1 when drift remains or a group could not be
    read. The fix writes through the group sync's ownership protocol, as the bot does for grants."""
    from bot.bootstrap import wire
    from bot.config import ConfigError
    from bot.config.policy_file import load_policy
    from bot.reconcile import render
    from bot.services.reconcile import reconcile as compare

    if not (settings.cloudflare_api_token and settings.cloudflare_api_token.get_secret_value()):
        raise ConfigError("CLOUDFLARE_API_TOKEN: not set (accessbot reconcile reads the groups at Cloudflare)")
    policy = load_policy(settings.accessbot_policy, settings.cloudflare_account_id)
    wiring = await wire(settings, policy, store=store)
    try:
        report = await compare(wiring.deps, wiring.locker, fix=args.fix, actor="cli")
    finally:
        await wiring.close_clients()
    print(render(report))
    remaining = [d for d in report if d.error or (d.drifted and not d.fixed)]
    return EXIT_PROBLEM if remaining else EXIT_OK
