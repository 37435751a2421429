"""`accessbot …`: serve, demo, policy check, db, grants, revoke, audit, reconcile."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_PROBLEM, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="accessbot", description="Just-in-time access to Cloudflare Access apps, "
                                                               "approved in Slack.")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the bot (HTTP, scheduler)")
    s.add_argument("--no-migrate", action="store_true", help="do not apply migrations at start")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    d = sub.add_parser("demo", help="the whole flow against built-in simulators")
    d.add_argument("--quiet", action="store_true")
    pol = sub.add_parser("policy", help="policy file tools")
    pol_sub = pol.add_subparsers(dest="policy_cmd", required=True)
    chk = pol_sub.add_parser("check", help="validate a policy file")
    chk.add_argument("file", nargs="?")
    pol_sub.add_parser("reload", help="make every running serve re-read its policy file (checks the file first)")
    db = sub.add_parser("db", help="migrations by hand")
    db.add_argument("db_cmd", choices=["upgrade", "current"])
    g = sub.add_parser("grants", help="list grants")
    g.add_argument("--active", action="store_true")
    g.add_argument("--user")
    g.add_argument("--role")
    g.add_argument("--json", action="store_true")
    r = sub.add_parser("revoke", help="revoke a grant now (actor: cli)")
    r.add_argument("grant_id")
    r.add_argument("--reason", default="")
    a = sub.add_parser("audit", help="the audit log")
    a_sub = a.add_subparsers(dest="audit_cmd", required=True)
    ex = a_sub.add_parser("export", help="stream the audit log, oldest first")
    ex.add_argument("--since")
    ex.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    from bot.checkpoint_cli import add_commands, add_verify_options

    add_verify_options(a_sub.add_parser("verify", help="check the hash chain (and signed checkpoints)"))
    add_commands(a_sub)
    rc = sub.add_parser("reconcile", help="compare the database with Cloudflare")
    rc.add_argument("--fix", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = _parser().parse_args(argv)
    from sqlalchemy.exc import SQLAlchemyError

    from bot.config import ConfigError, PolicyError, load_settings

    try:
        if args.cmd == "policy" and args.policy_cmd == "reload":
            return asyncio.run(_policy_reload())
        if args.cmd == "policy":
            return _policy_check(args.file)
        if args.cmd == "demo":
            from bot.demo import run_demo

            return asyncio.run(run_demo(quiet=args.quiet))
        if args.cmd == "serve":
            return asyncio.run(_serve(args))
        if args.cmd == "audit" and args.audit_cmd == "keygen":
            from bot.checkpoint_cli import keygen

            return keygen(args, load_settings())
        return asyncio.run(_db_command(args))
    except (ConfigError, PolicyError) as exc:
        print(f"accessbot: {_one_line(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"accessbot: database error (DATABASE_URL): {detail}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _one_line(exc: Exception) -> str:
    problems = getattr(exc, "problems", None)
    if problems:
        more = f" (and {len(problems) - 1} more; run `accessbot policy check`)" if len(problems) > 1 else ""
        return f"policy: {problems[0]}{more}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _policy_check(path: str | None) -> int:
    from bot.config import PolicyError, load_policy, load_settings

    settings = load_settings()
    target = path or settings.accessbot_policy
    try:
        policy = load_policy(target, settings.cloudflare_account_id)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{target}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return EXIT_PROBLEM
    print(f"{target}: OK, {len(policy.roles)} role(s): {', '.join(sorted(policy.roles))}")
    return EXIT_OK


async def _policy_reload() -> int:
    """`accessbot policy reload`: check the file here, then signal the serves (NOTIFY on PostgreSQL, SIGHUP to
    the serves registered next to a SQLite database); each re-reads its own file and audits the outcome."""
    from bot.config import load_settings
    from bot.storage.engine import sqlite_file

    settings = load_settings()
    if _policy_check(None) != EXIT_OK:
        print("accessbot: not reloading: fix the problems above first", file=sys.stderr)
        return EXIT_PROBLEM
    database = sqlite_file(settings.database_url)
    if database is None:
        import asyncpg

        from bot.storage.notify import notify_policy_reload

        try:
            await notify_policy_reload(settings.database_url)
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"accessbot: database error (DATABASE_URL): {str(exc).splitlines()[0] if str(exc) else exc!r}",
                  file=sys.stderr)
            return EXIT_CONFIG
        print("asked every serve on this database to reload its policy (NOTIFY accessbot_policy); each audits "
              "policy.reloaded, or policy.reload_refused with the problems")
        return EXIT_OK
    from bot.storage.serve_registry import signal_serves

    pids = signal_serves(database)
    if not pids:
        print(f"accessbot: no running serve uses {database} (DATABASE_URL); nothing to reload", file=sys.stderr)
        return EXIT_PROBLEM
    print(f"sent SIGHUP to serve process(es) {', '.join(map(str, pids))}; each audits policy.reloaded, or "
          "policy.reload_refused with the problems")
    return EXIT_OK


async def _serve(args: argparse.Namespace) -> int:
    from bot.bootstrap import build, serve_forever
    from bot.config import ConfigError, load_policy, load_settings
    from bot.logging_setup import setup_logging

    settings = load_settings()
    settings.require_for_serve()
    policy = load_policy(settings.accessbot_policy, settings.cloudflare_account_id)
    setup_logging(settings.log_level, settings.log_format)
    try:
        bot = await build(settings, policy, migrate=not args.no_migrate)
    except OSError as exc:
        raise ConfigError(f"DATABASE_URL: cannot open the database: {exc}") from exc
    host = args.host or settings.accessbot_host
    port = settings.accessbot_port if args.port is None else args.port
    try:
        await serve_forever(bot, host, port)
    except ConfigError:
        await bot.close()
        raise
    except OSError as exc:
        await bot.close()
        raise ConfigError(f"ACCESSBOT_PORT: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return EXIT_OK


async def _db_command(args: argparse.Namespace) -> int:
    from bot.config import load_settings
    from bot.domain.clock import SystemClock
    from bot.storage.engine import make_engine
    from bot.storage.migrate import current, head, upgrade
    from bot.storage.store import Store

    if args.cmd == "audit" and args.audit_cmd == "export":
        args.since_at = _since(args.since)
        if args.since_at == "":
            print(f"accessbot: --since {args.since[:60]!r} is not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)",
                  file=sys.stderr)
            return EXIT_CONFIG
    settings = load_settings()
    if not (args.cmd == "db" and args.db_cmd == "upgrade") and _refuse_new_sqlite_file(settings.database_url):
        return EXIT_CONFIG
    engine = make_engine(settings.database_url)
    try:
        if args.cmd == "db":
            if args.db_cmd == "upgrade":
                await upgrade(engine)
            rev = await current(engine)
            print(f"{rev or 'empty'}{' (head)' if rev == head() else ''}")
            return EXIT_OK
        rev = await current(engine)
        if rev != head():
            state = "has no schema yet" if rev is None else f"is at revision {rev}, not {head()}"
            print(f"accessbot: the database {state}; run `accessbot db upgrade` (serve does it at start)",
                  file=sys.stderr)
            return EXIT_CONFIG
        store = Store(engine, SystemClock())
        if args.cmd == "grants":
            return await _grants(store, args)
        if args.cmd == "audit":
            return await _audit(store, args)
        if args.cmd == "revoke":
            return await _revoke(store, settings, args)
        if args.cmd == "reconcile":
            from bot.reconcile import run_reconcile_cli

            return await run_reconcile_cli(settings, store, fix=args.fix)
    finally:
        await engine.dispose()
    return EXIT_PROBLEM


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


async def _grants(store: Any, args: argparse.Namespace) -> int:
    from bot.domain.model import GrantState
    from bot.domain.records import grant_record

    async with store.tx() as tx:
        found = await tx.grants(states=(GrantState.ACTIVE,) if args.active else None, email=args.user,
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


async def _audit(store: Any, args: argparse.Namespace) -> int:
    from bot.domain.audit import FIELDS

    if args.audit_cmd in ("verify", "checkpoint", "checkpoints"):
        from bot import checkpoint_cli
        from bot.config import load_settings

        run = checkpoint_cli.verify if args.audit_cmd == "verify" else checkpoint_cli.checkpoint
        return await run(store, load_settings(), args)
    async with store.tx() as tx:
        rows = await tx.audit_rows(since_at=args.since_at)
    if args.format == "jsonl":
        for row in rows:
            print(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False))
    else:
        w = csv.writer(sys.stdout)
        w.writerow(FIELDS)
        for row in rows:
            w.writerow([json.dumps(row[k], sort_keys=True) if k == "details" else row[k] for k in FIELDS])
    return EXIT_OK


async def _revoke(store: Any, settings: Any, args: argparse.Namespace) -> int:
    from bot.config import load_policy
    from bot.domain.ids import normalise_id
    from bot.services.context import Deps
    from bot.services.grants import revoke

    policy = load_policy(settings.accessbot_policy, settings.cloudflare_account_id)
    deps = Deps(store=store, clock=store.clock, policy=policy, directory=None, groups=None)  # type: ignore[arg-type]
    out = await revoke(deps, "cli", normalise_id(args.grant_id), reason_text=args.reason, via="cli")
    if not out.ok:
        print(f"accessbot: {out.message.replace('`/access list` shows yours', '`accessbot grants` lists them')}",
              file=sys.stderr)
        return EXIT_PROBLEM
    print(f"{out.message} The running bot removes it at Cloudflare within seconds.")
    return EXIT_OK
