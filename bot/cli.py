"""`accessbot …`: serve, demo, policy check, db, grants, revoke, audit, reconcile."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

EXIT_OK, EXIT_PROBLEM, EXIT_CONFIG = 0, 1, 2
EXIT_INTERRUPTED = 130   # Ctrl-C (128 + SIGINT)
EXIT_PIPE_CLOSED = 141   # stdout closed early, e.g. `| head` (128 + SIGPIPE, as for any tool killed by it)

EXIT_CODES = """\
exit codes:
  0    done; a check found nothing wrong
  1    a check found problems, or the command was refused: policy problems, a broken audit chain,
       drift left after reconcile, a grant that cannot be revoked, a demo step that did not happen
  2    usage or configuration error: a bad option, a missing or invalid setting, a database that
       cannot be opened or is not migrated, a credential refused at start-up; also `accessbot` with
       no command (usage on stderr)
  130  interrupted (Ctrl-C)
  141  stdout was closed early (e.g. piped into head); nothing is printed about it

Settings come from the environment and from ./.env (the environment wins); each command's --help
names the variables it reads."""

_DB = "DATABASE_URL (default sqlite+aiosqlite:///accessbot.db)"


def _env(*names: str) -> str:
    """The epilog of a subcommand: the environment variables it reads."""
    return "environment:\n" + "\n".join(f"  {n}" for n in names)


def _sub(sub: Any, name: str, help_text: str, *env: str) -> argparse.ArgumentParser:
    """A subcommand whose --help repeats its one-line help and lists the variables it reads."""
    return sub.add_parser(name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".",
                          epilog=_env(*env) if env else None, formatter_class=argparse.RawDescriptionHelpFormatter)


def _usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A command group given no subcommand: its help on stderr, exit 2 (the usage-error convention)."""

    def show(_: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_CONFIG

    return show


def _version() -> str:
    """The installed package's version (importlib.metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("accessbot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="accessbot", description="Just-in-time access to Cloudflare Access apps, "
                                                               "approved in Slack.\n`accessbot` with no command "
                                                               "prints this help on stderr and exits 2.",
                                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"accessbot {_version()}",
                   help="print the installed version and exit")
    p.set_defaults(func=_usage(p))
    sub = p.add_subparsers(dest="cmd", title="commands", metavar="COMMAND")
    s = _sub(sub, "serve", "run the bot: Slack endpoint (or Socket Mode), scheduler, /healthz, /metrics, /api",
             "SLACK_BOT_TOKEN (xoxb-…, required)", "SLACK_SIGNING_SECRET (required in HTTP mode)",
             "SLACK_APP_TOKEN (xapp-…; set for Socket Mode)", "SLACK_API_URL", "CLOUDFLARE_API_TOKEN (required)",
             "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_URL", _DB, "ACCESSBOT_POLICY (default policy.yml)",
             "ACCESSBOT_HOST, ACCESSBOT_PORT", "CF_ACCESS_TEAM_DOMAIN, CF_ACCESS_AUD (both set: /api is on)",
             "LOG_LEVEL (default INFO), LOG_FORMAT (json or text), ACCESSBOT_LOG_DEBUG",
             "ACCESSBOT_REVOKE_ALERT_AFTER, ACCESSBOT_RECONCILE_INTERVAL, ACCESSBOT_CF_TIMEOUT")
    s.add_argument("--no-migrate", action="store_true",
                   help="do not apply database migrations at start (run `accessbot db upgrade` yourself)")
    s.add_argument("--host", help="address to listen on (default: ACCESSBOT_HOST, else 0.0.0.0)")
    s.add_argument("--port", type=int, help="port to listen on, 0 for any free one (default: ACCESSBOT_PORT, "
                                            "else 3000)")
    s.set_defaults(func=_serve)
    d = _sub(sub, "demo", "the whole flow against built-in Slack and Cloudflare simulators (reads no settings)")
    d.add_argument("--quiet", action="store_true", help="print nothing but a failure; the exit code tells")
    d.set_defaults(func=_demo)
    pol = _sub(sub, "policy", "policy file tools")
    pol.set_defaults(func=_usage(pol))
    pol_sub = pol.add_subparsers(dest="policy_cmd", title="commands", metavar="COMMAND")
    chk = _sub(pol_sub, "check", "validate a policy file; every problem with its place, exit 1 if any",
               "ACCESSBOT_POLICY (default policy.yml)", "CLOUDFLARE_ACCOUNT_ID (the default account_id of roles)")
    chk.add_argument("file", nargs="?", help="the policy file (default: ACCESSBOT_POLICY, else policy.yml)")
    chk.set_defaults(func=_policy_check)
    _sub(pol_sub, "reload", "make every running serve re-read its policy file (checks the file first; exit 1 if "
                            "it has problems or no serve runs)", _DB, "ACCESSBOT_POLICY (default policy.yml)") \
        .set_defaults(func=lambda _args: _policy_reload())
    db = _sub(sub, "db", "database migrations by hand (serve applies them at start)")
    db.set_defaults(func=_usage(db))
    db_sub = db.add_subparsers(dest="db_cmd", title="commands", metavar="COMMAND")
    _sub(db_sub, "upgrade", "apply every migration not yet applied, then print the revision", _DB) \
        .set_defaults(func=_db_command)
    _sub(db_sub, "current", "print the database's revision ('(head)' when it is the newest)", _DB) \
        .set_defaults(func=_db_command)
    g = _sub(sub, "grants", "list grants as a table, or as JSON lines", _DB)
    g.add_argument("--active", action="store_true", help="only grants active now")
    g.add_argument("--user", metavar="EMAIL", help="only this person's grants (their email)")
    g.add_argument("--role", help="only grants of this role")
    g.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    g.set_defaults(func=_db_command)
    r = _sub(sub, "revoke", "revoke a grant now (audited with actor cli); the running bot removes it at Cloudflare",
             _DB, "ACCESSBOT_POLICY (default policy.yml)")
    r.add_argument("grant_id", help="the grant's id, as `accessbot grants` shows it (g-…)")
    r.add_argument("--reason", default="", help="why, for the audit log and the person's notice")
    r.set_defaults(func=_db_command)
    a = _sub(sub, "audit", "the audit log")
    a.set_defaults(func=_usage(a))
    a_sub = a.add_subparsers(dest="audit_cmd", title="commands", metavar="COMMAND")
    ex = _sub(a_sub, "export", "stream the audit log to stdout, oldest first", _DB)
    ex.add_argument("--since", metavar="TIME", help="only events at or after this ISO 8601 time "
                                                    "(UTC unless it has an offset), e.g. 2026-11-01T00:00:00Z")
    ex.add_argument("--format", choices=["jsonl", "csv"], default="jsonl",
                    help="jsonl (one JSON object per line, the default) or csv (a header row; details as JSON)")
    ex.set_defaults(func=_db_command)
    from bot.checkpoint_cli import add_commands, add_verify_options

    add_verify_options(_sub(a_sub, "verify", "check the hash chain (and signed checkpoints); exit 1 naming the "
                                             "first changed row or what a checkpoint found", _DB,
                            "ACCESSBOT_AUDIT_PUBLIC_KEY, ACCESSBOT_AUDIT_KEY_FILE")).set_defaults(func=_db_command)
    add_commands(a_sub, run_in_db=_db_command, keygen_func=_audit_keygen)
    rc = _sub(sub, "reconcile", "compare the database with Cloudflare's groups; exit 1 if drift remains", _DB,
              "ACCESSBOT_POLICY (default policy.yml)", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID",
              "CLOUDFLARE_API_URL", "ACCESSBOT_CF_TIMEOUT")
    rc.add_argument("--fix", action="store_true", help="also repair the bot's own rules (never standing members)")
    rc.set_defaults(func=_db_command)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here at the latest, not in the interpreter's exit
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly. Python would flush stdout again at exit and
        # print an error, so point it at devnull first (the recipe in Python's signal documentation).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
    return code


def _run(argv: Sequence[str] | None) -> int:
    """Parse the arguments and run the chosen command, turning known failures into one line and an exit code."""
    args = _parser().parse_args(argv)
    from sqlalchemy.exc import SQLAlchemyError

    from bot.config.errors import ConfigError, PolicyError

    try:
        result = args.func(args)
        return asyncio.run(result) if asyncio.iscoroutine(result) else result
    except (ConfigError, PolicyError) as exc:
        print(f"accessbot: {_one_line(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"accessbot: database error (DATABASE_URL): {detail}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _demo(args: argparse.Namespace) -> Any:
    from bot.demo import run_demo

    return run_demo(quiet=args.quiet)


def _one_line(exc: Exception) -> str:
    problems = getattr(exc, "problems", None)
    if problems:
        more = f" (and {len(problems) - 1} more; run `accessbot policy check`)" if len(problems) > 1 else ""
        return f"policy: {problems[0]}{more}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _policy_check(args: argparse.Namespace) -> int:
    from bot.config.errors import PolicyError
    from bot.config.policy_file import load_policy
    from bot.config.settings import load_settings

    settings = load_settings()
    target = args.file or settings.accessbot_policy
    try:
        policy = load_policy(target, settings.cloudflare_account_id)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{target}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return EXIT_PROBLEM
    print(f"{target}: OK, {len(policy.roles)} role(s): {', '.join(sorted(policy.roles))}")
    return EXIT_OK


def _audit_keygen(args: argparse.Namespace) -> int:
    """`accessbot audit keygen`: write a new checkpoint signing key and print its public key."""
    from bot.checkpoint_cli import keygen
    from bot.config.settings import load_settings

    return keygen(args, load_settings())


async def _policy_reload() -> int:
    """`accessbot policy reload`: check the file here, then signal the serves (NOTIFY on PostgreSQL, SIGHUP to
    the serves registered next to a SQLite database); each re-reads its own file and audits the outcome."""
    from bot.config.settings import load_settings
    from bot.storage.engine import sqlite_file

    settings = load_settings()
    if _policy_check(argparse.Namespace(file=None)) != EXIT_OK:
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
    from bot.config import ConfigError
    from bot.config.policy_file import load_policy
    from bot.config.settings import load_settings
    from bot.logging_setup import setup_logging

    settings = load_settings()
    settings.require_for_serve()
    policy = load_policy(settings.accessbot_policy, settings.cloudflare_account_id)
    setup_logging(settings.log_level, settings.log_format, debug_loggers=settings.accessbot_log_debug,
                  secrets=_secrets(settings))
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


def _secrets(settings: Any) -> list[str]:
    """The configured secret values, masked in every log line (the tokens, the signing secret, the DB password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    values = [v.get_secret_value() for v in (settings.slack_bot_token, settings.slack_app_token,
                                               settings.slack_signing_secret, settings.cloudflare_api_token) if v]
    try:
        password = make_url(settings.database_url).password
    except ArgumentError:
        password = None
    return values + ([str(password)] if password else [])


async def _db_command(args: argparse.Namespace) -> int:
    from bot.config.settings import load_settings
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
            from bot.config import ConfigError
            from bot.reconcile import run_reconcile_cli

            if not (settings.cloudflare_api_token and settings.cloudflare_api_token.get_secret_value()):
                raise ConfigError("CLOUDFLARE_API_TOKEN: not set (accessbot reconcile reads the groups at Cloudflare)")

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


async def _audit(store: Any, args: argparse.Namespace) -> int:
    from bot.domain.audit import FIELDS

    if args.audit_cmd in ("verify", "checkpoint", "checkpoints"):
        from bot import checkpoint_cli
        from bot.config.settings import load_settings

        run = checkpoint_cli.verify if args.audit_cmd == "verify" else checkpoint_cli.checkpoint
        return await run(store, load_settings(), args)
    async with store.tx() as tx:
        rows = await tx.audit.rows(since_at=args.since_at)
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
    from bot.cli_render import cli_text
    from bot.config.policy_file import load_policy
    from bot.domain.ids import normalise_id
    from bot.services.context import Deps
    from bot.services.grants import revoke

    policy = load_policy(settings.accessbot_policy, settings.cloudflare_account_id)
    deps = Deps(store=store, clock=store.clock, policy=policy, directory=None, groups=None)  # type: ignore[arg-type]
    out = await revoke(deps, "cli", normalise_id(args.grant_id), reason_text=args.reason, via="cli")
    message = cli_text(out)
    if not out.ok:
        print(f"accessbot: {message}", file=sys.stderr)
        return EXIT_PROBLEM
    print(f"{message} The running bot removes it at Cloudflare within seconds.")
    return EXIT_OK
