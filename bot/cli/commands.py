"""The commands that read no database themselves: serve, demo, policy check and reload, audit keygen."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from bot.cli.codes import EXIT_CONFIG, EXIT_OK, EXIT_PROBLEM
from bot.domain.policy import Role


def demo(args: argparse.Namespace) -> Any:
    """`accessbot demo`: the scripted flow against the simulators."""
    from bot.demo import run_demo

    return run_demo(quiet=args.quiet)


def policy_check(args: argparse.Namespace) -> int:
    """`accessbot policy check [FILE]`: every problem with its place; exit 1 if any."""
    from bot.config.errors import PolicyError
    from bot.config.policy_file import load_policy
    from bot.config.settings import load_settings, require_for_policy

    settings = load_settings()
    target = args.file or settings.accessbot_policy
    try:
        policy = load_policy(target, settings.cloudflare_account_id)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{target}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return EXIT_PROBLEM
    require_for_policy(settings, policy)
    print(f"{target}: OK, {len(policy.roles)} role(s): {', '.join(sorted(policy.roles))}")
    for name in sorted(policy.roles):
        print(write_path(policy.roles[name]))
    return EXIT_OK


def write_path(role: Role) -> str:
    """How the bot changes Cloudflare for `role`, in one line: `prod-db: Zero Trust list L… (1 call per batch)`."""
    if role.list_id:
        return (f"  {role.name}: Zero Trust list {role.list_id} in account {role.account_id} "
                "(1 call per batch: PATCH append/remove)")
    return f"  {role.name}: Access group {role.group_id} in account {role.account_id} (GET + PUT per batch)"


def audit_keygen(args: argparse.Namespace) -> int:
    """`accessbot audit keygen`: write a new checkpoint signing key and print its public key."""
    from bot.checkpoint_cli import keygen
    from bot.config.settings import load_settings

    return keygen(args, load_settings())


async def policy_reload(_args: argparse.Namespace) -> int:
    """`accessbot policy reload`: check the file here, then signal the serves (NOTIFY on PostgreSQL, SIGHUP to
    the serves registered next to a SQLite database); each re-reads its own file and audits the outcome."""
    from bot.config.settings import load_settings
    from bot.storage.engine import sqlite_file

    settings = load_settings()
    if policy_check(argparse.Namespace(file=None)) != EXIT_OK:
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


async def serve(args: argparse.Namespace) -> int:
    """`accessbot serve`: build the bot through the composition root and run it until stopped."""
    import gc

    # Start-up makes objects that live as long as the process (modules, the policy, the app): collecting while
    # it runs finds nothing to free. `settle_heap` collects once, freezes them and turns collection back on.
    gc.disable()
    from bot.bootstrap import build, serve_forever
    from bot.config import ConfigError
    from bot.config.policy_file import load_policy
    from bot.config.settings import load_settings, require_for_policy
    from bot.logging_setup import setup_logging

    settings = load_settings()
    settings.require_for_serve()
    policy = load_policy(settings.accessbot_policy, settings.cloudflare_account_id)
    require_for_policy(settings, policy)
    setup_logging(settings.log_level, settings.log_format, debug_loggers=settings.accessbot_log_debug,
                  secrets=secret_values(settings))
    try:
        bot = await build(settings, policy, migrate=not args.no_migrate)
    except OSError as exc:
        raise ConfigError(f"DATABASE_URL: cannot open the database: {exc}") from exc
    logging.getLogger("bot.serve").info("start-up heap frozen out of the collector (%d objects)", settle_heap())
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


def settle_heap() -> int:
    """Collect what start-up left behind, then freeze the rest (modules, the policy, the app) out of the
    collector's sight. A full collection under load then walks only what requests made, not the whole process:
    measured with 100,000 grants in the database, each full collection paused serve 42-50 ms before (the App
    Home p99 outliers) and about 2 ms after. Returns how many objects are frozen."""
    import gc

    gc.collect()
    gc.freeze()
    gc.enable()
    return gc.get_freeze_count()


def secret_values(settings: Any) -> list[str]:
    """The configured secret values, masked in every log line (the tokens, the signing secret, the DB password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    values = [v.get_secret_value() for v in (settings.slack_bot_token, settings.slack_app_token,
                                               settings.slack_signing_secret, settings.cloudflare_api_token,
                                               settings.pagerduty_api_token) if v]
    try:
        password = make_url(settings.database_url).password
    except ArgumentError:
        password = None
    return values + ([str(password)] if password else [])
