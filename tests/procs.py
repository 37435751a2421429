"""Real `accessbot serve` processes for replica and chaos tests: start, find the port, kill, restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_LISTENING = re.compile(r"listening on [^:\s]+:(\d+)")


class ServeProcess:
    """One `python -m bot serve` child process with its environment and log file."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str = "serve") -> None:
        self.env = {**os.environ, "LOG_FORMAT": "text", **env, "ACCESSBOT_PORT": "0", "ACCESSBOT_HOST": "127.0.0.1"}
        self.workdir = workdir
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.starts = 0
        self.log_path = workdir / f"{name}.log"

    @property
    def url(self) -> str:
        """Where the bot listens now."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        """Start the process and wait until it listens; returns its URL."""
        self.starts += 1
        log = open(self.log_path, "a")  # noqa: SIM115 - the child owns it
        log.write(f"--- start {self.starts} ---\n")
        log.flush()
        offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=self.workdir, env=self.env,
                                     stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path) as fh:
                fh.seek(offset)
                m = _LISTENING.search(fh.read())
            if m:
                self.port = int(m.group(1))
                return self.url
            if self.proc.poll() is not None:
                tail = self.log_path.read_text()[-3000:]
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 40.0) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if not self.proc:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)
