"""Copies of signed audit checkpoints in a directory outside the database."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from bot.domain.checkpoint import Checkpoint


def write_file(directory: str | Path, cp: Checkpoint) -> Path:
    """Write the checkpoint to `directory` as `<size>-<time>.checkpoint` and as `latest.checkpoint` (each
    atomically, so a reader never sees half of one); returns the first path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = re.sub(r"[^0-9TZ]", "", cp.at)
    path = folder / f"{cp.size:012d}-{stamp}.checkpoint"
    for target in (path, folder / "latest.checkpoint"):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".checkpoint-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(cp.note)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path
