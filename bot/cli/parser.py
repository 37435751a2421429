"""The `accessbot` argument parser: each command's options, help, environment and the function it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from bot.cli import commands, data
from bot.cli.codes import EXIT_CODES, EXIT_CONFIG

_DB = "DATABASE_URL (default sqlite+aiosqlite:///accessbot.db)"
_POLICY = "ACCESSBOT_POLICY (default policy.yml)"


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
        """Print the group's help on stderr; exit 2."""
        parser.print_help(sys.stderr)
        return EXIT_CONFIG

    return show


def _group(sub: Any, name: str, help_text: str, dest: str) -> Any:
    """A command group (`accessbot policy …`): usage on stderr without a subcommand; returns its subparsers."""
    group = _sub(sub, name, help_text)
    group.set_defaults(func=_usage(group))
    return group.add_subparsers(dest=dest, title="commands", metavar="COMMAND")


def _version() -> str:
    """The installed package's version (importlib.metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("accessbot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _add_serve(sub: Any) -> None:
    """`accessbot serve` and `accessbot demo`."""
    s = _sub(sub, "serve", "run the bot: Slack endpoint (or Socket Mode), scheduler, /healthz, /metrics, /api",
             "SLACK_BOT_TOKEN (xoxb-…, required)", "SLACK_SIGNING_SECRET (required in HTTP mode)",
             "SLACK_APP_TOKEN (xapp-…; set for Socket Mode)", "SLACK_API_URL", "CLOUDFLARE_API_TOKEN (required)",
             "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_URL", _DB, _POLICY,
             "ACCESSBOT_HOST, ACCESSBOT_PORT", "CF_ACCESS_TEAM_DOMAIN, CF_ACCESS_AUD (both set: /api is on)",
             "LOG_LEVEL (default INFO), LOG_FORMAT (json or text), ACCESSBOT_LOG_DEBUG",
             "ACCESSBOT_REVOKE_ALERT_AFTER, ACCESSBOT_RECONCILE_INTERVAL, ACCESSBOT_CF_TIMEOUT",
             "ACCESSBOT_CF_BUDGET (default 1100 calls per 5 min, all replicas), ACCESSBOT_CF_BURST (default 50)",
             "ACCESSBOT_MAX_PENDING_WORK (default 300; 0: no limit)",
             "ACCESSBOT_RETENTION (default 30d; 0 keeps done effects and delivery keys for ever)")
    s.add_argument("--no-migrate", action="store_true",
                   help="do not apply database migrations at start (run `accessbot db upgrade` yourself)")
    s.add_argument("--host", help="address to listen on (default: ACCESSBOT_HOST, else 0.0.0.0)")
    s.add_argument("--port", type=int, help="port to listen on, 0 for any free one (default: ACCESSBOT_PORT, "
                                            "else 3000)")
    s.set_defaults(func=commands.serve)
    d = _sub(sub, "demo", "the whole flow against built-in Slack and Cloudflare simulators (reads no settings)")
    d.add_argument("--quiet", action="store_true", help="print nothing but a failure; the exit code tells")
    d.set_defaults(func=commands.demo)


def _add_policy(sub: Any) -> None:
    """`accessbot policy check | reload`."""
    pol_sub = _group(sub, "policy", "policy file tools", "policy_cmd")
    chk = _sub(pol_sub, "check", "validate a policy file; every problem with its place, exit 1 if any",
               _POLICY, "CLOUDFLARE_ACCOUNT_ID (the default account_id of roles)")
    chk.add_argument("file", nargs="?", help="the policy file (default: ACCESSBOT_POLICY, else policy.yml)")
    chk.set_defaults(func=commands.policy_check)
    _sub(pol_sub, "reload", "make every running serve re-read its policy file (checks the file first; exit 1 if "
                            "it has problems or no serve runs)", _DB, _POLICY) \
        .set_defaults(func=commands.policy_reload)


def _add_db(sub: Any) -> None:
    """`accessbot db upgrade | current`."""
    db_sub = _group(sub, "db", "database migrations by hand (serve applies them at start)", "db_cmd")
    _sub(db_sub, "upgrade", "apply every migration not yet applied, then print the revision", _DB) \
        .set_defaults(func=data.db_command)
    _sub(db_sub, "current", "print the database's revision ('(head)' when it is the newest)", _DB) \
        .set_defaults(func=data.db_command)


def _add_grants(sub: Any) -> None:
    """`accessbot grants` and `accessbot revoke`."""
    g = _sub(sub, "grants", "list grants as a table, or as JSON lines", _DB)
    g.add_argument("--active", action="store_true", help="only grants active now")
    g.add_argument("--user", metavar="EMAIL", help="only this person's grants (their email)")
    g.add_argument("--role", help="only grants of this role")
    g.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    g.set_defaults(func=data.on_store(data.grants))
    r = _sub(sub, "revoke", "revoke a grant now (audited with actor cli); the running bot removes it at Cloudflare",
             _DB, _POLICY)
    r.add_argument("grant_id", help="the grant's id, as `accessbot grants` shows it (g-…)")
    r.add_argument("--reason", default="", help="why, for the audit log and the person's notice")
    r.set_defaults(func=data.on_store(data.revoke))


def _add_audit(sub: Any) -> None:
    """`accessbot audit export | verify | keygen | checkpoint | checkpoints`."""
    from bot.checkpoint_cli import add_commands, add_verify_options

    a_sub = _group(sub, "audit", "the audit log", "audit_cmd")
    ex = _sub(a_sub, "export", "stream the audit log to stdout, oldest first", _DB)
    ex.add_argument("--since", metavar="TIME", help="only events at or after this ISO 8601 time "
                                                    "(UTC unless it has an offset), e.g. 2026-11-01T00:00:00Z")
    ex.add_argument("--format", choices=["jsonl", "csv"], default="jsonl",
                    help="jsonl (one JSON object per line, the default) or csv (a header row; details as JSON)")
    ex.set_defaults(func=data.audit_export)
    checkpoints = data.on_store(data.audit_checkpoints)
    add_verify_options(_sub(a_sub, "verify", "check the hash chain (and signed checkpoints); exit 1 naming the "
                                             "first changed row or what a checkpoint found", _DB,
                            "ACCESSBOT_AUDIT_PUBLIC_KEY, ACCESSBOT_AUDIT_KEY_FILE")).set_defaults(func=checkpoints)
    add_commands(a_sub, run_in_db=checkpoints, keygen_func=commands.audit_keygen)


def _add_reconcile(sub: Any) -> None:
    """`accessbot reconcile [--fix]`."""
    rc = _sub(sub, "reconcile", "compare the database with Cloudflare's groups; exit 1 if drift remains", _DB,
              _POLICY, "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_URL", "ACCESSBOT_CF_TIMEOUT")
    rc.add_argument("--fix", action="store_true", help="also repair the bot's own rules (never standing members)")
    rc.set_defaults(func=data.on_store(data.reconcile))


def build_parser() -> argparse.ArgumentParser:
    """The whole parser; each command's `func` is what `main` runs with the parsed arguments."""
    p = argparse.ArgumentParser(prog="accessbot", description="Just-in-time access to Cloudflare Access apps, "
                                                               "approved in Slack.\n`accessbot` with no command "
                                                               "prints this help on stderr and exits 2.",
                                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"accessbot {_version()}",
                   help="print the installed version and exit")
    p.set_defaults(func=_usage(p))
    sub = p.add_subparsers(dest="cmd", title="commands", metavar="COMMAND")
    for add in (_add_serve, _add_policy, _add_db, _add_grants, _add_audit, _add_reconcile):
        add(sub)
    return p
