"""Which `serve` processes run on a SQLite database, so `accessbot policy reload` can signal them.

Each serve creates `<database>-serve-<pid>` next to the database file, writes its pid there and holds an
exclusive `flock` on it while it runs. The kernel drops the lock when the process ends, however it ends, so
a file whose lock can be taken belongs to a process that is gone (its pid may already be someone else's):
it is removed, never signalled. (On PostgreSQL the replicas LISTEN instead: bot/storage/notify.py.)
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no registry, `policy reload` says so
    fcntl = None  # type: ignore[assignment]


def _pattern(database: Path) -> str:
    return f"{database.name}-serve-*"


class ServeRegistration:
    """This process's entry for one SQLite database, held until `close()`."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(f"{database.name}-serve-{os.getpid()}")
        self._fd: int | None = None

    def open(self) -> bool:
        """Create the file and lock it; False when locks are not available here."""
        if fcntl is None:
            return False
        # Locked under a name no reader looks at, then renamed into place: a reader never sees it unlocked.
        staging = self.path.with_name(f".{self.path.name}.new")
        fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, f"{os.getpid()}\n".encode())
            os.replace(staging, self.path)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                staging.unlink()
            raise
        self._fd = fd
        return True

    def close(self) -> None:
        """Remove the file and let the lock go."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None


def running_serves(database: Path) -> list[int]:
    """Pids of the serve processes registered for the database that still run (stale entries are removed)."""
    if fcntl is None:
        return []
    pids = []
    for entry in sorted(database.parent.glob(_pattern(database))):
        try:
            fd = os.open(entry, os.O_RDONLY)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # held: its serve is alive
                with contextlib.suppress(ValueError, OSError):
                    pids.append(int(os.read(fd, 32).decode().strip()))
                continue
            with contextlib.suppress(OSError):
                entry.unlink()  # nobody holds it: the process is gone
        finally:
            os.close(fd)
    return pids


def signal_serves(database: Path, sig: int = signal.SIGHUP) -> list[int]:
    """Send `sig` to every running serve of the database; the pids signalled."""
    sent = []
    for pid in running_serves(database):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
            sent.append(pid)
    return sent
