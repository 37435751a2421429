"""`accessbot …`: serve, demo, policy check, db, grants, revoke, audit, reconcile."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from bot.cli.codes import EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_PIPE_CLOSED
from bot.cli.parser import build_parser

_parser = build_parser  # the name the CLI convention tests walk the parser by


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
    args = build_parser().parse_args(argv)
    from sqlalchemy.exc import SQLAlchemyError

    from bot.config import ConfigError
    from bot.config.errors import PolicyError

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


def _one_line(exc: Exception) -> str:
    """The first problem of a policy error (pointing at `policy check` for the rest), else the first line."""
    problems = getattr(exc, "problems", None)
    if problems:
        more = f" (and {len(problems) - 1} more; run `accessbot policy check`)" if len(problems) > 1 else ""
        return f"policy: {problems[0]}{more}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
