"""The CLI's exit codes, and the text `accessbot --help` explains them with."""

from __future__ import annotations

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
