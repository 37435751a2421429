"""`accessbot audit keygen | checkpoint | checkpoints | verify [--checkpoint FILE|DIR|URL…] [--public-key KEY]`."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import ConfigError
from bot.domain import checkpoint as ckpt

EXIT_OK, EXIT_PROBLEM = 0, 1
MAX_SOURCE = 1024 * 1024  # bytes read from one checkpoint file or URL
DEFAULT_NAME = "accessbot/audit"


def add_commands(audit_sub: Any, *, run_in_db: Any, keygen_func: Any) -> None:
    """Add keygen, checkpoint and checkpoints to `accessbot audit`, dispatched to the given functions."""
    kg = audit_sub.add_parser("keygen", help="write a new checkpoint signing key (mode 600) and print its public key",
                              description="Environment: ACCESSBOT_AUDIT_KEY_FILE (the default --out).")
    kg.add_argument("--name", default=DEFAULT_NAME, help=f"the key's name, also the checkpoints' origin "
                                                          f"(default {DEFAULT_NAME})")
    kg.add_argument("--out", help="the key file to write (default: ACCESSBOT_AUDIT_KEY_FILE)")
    kg.set_defaults(func=keygen_func)
    cp = audit_sub.add_parser("checkpoint", help="sign a checkpoint of the audit chain now and print it",
                              description="Environment: DATABASE_URL, ACCESSBOT_AUDIT_KEY_FILE, "
                                          "ACCESSBOT_AUDIT_CHECKPOINT_DIR.")
    cp.add_argument("--export", action="store_true", help="print the stored checkpoints instead, oldest first")
    cp.set_defaults(func=run_in_db)
    audit_sub.add_parser("checkpoints", help="print every stored checkpoint, oldest first",
                         description="Environment: DATABASE_URL.").set_defaults(func=run_in_db)


def add_verify_options(verify: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --checkpoint and --public-key to `accessbot audit verify`."""
    verify.add_argument("--checkpoint", action="append", default=[], metavar="FILE|DIR|URL",
                        help="a checkpoint kept outside the database (a file of one or more, a directory of "
                             "*.checkpoint files, or an http(s) URL); may be repeated")
    verify.add_argument("--public-key", metavar="KEY|FILE",
                        help="the key that signs checkpoints, as keygen printed it (default: "
                             "ACCESSBOT_AUDIT_PUBLIC_KEY, else derived from ACCESSBOT_AUDIT_KEY_FILE)")
    return verify


# --------------------------------------------------------------------------- keygen


def keygen(args: argparse.Namespace, settings: Any) -> int:
    """Write a new private key file readable by its owner only; print the public key."""
    target = args.out or settings.accessbot_audit_key_file
    if not target:
        raise ConfigError("ACCESSBOT_AUDIT_KEY_FILE: not set (or give --out FILE)")
    try:
        key = ckpt.SigningKey.generate(args.name)
    except ckpt.CheckpointError as exc:
        raise ConfigError(f"--name: {exc}") from None
    path = Path(target)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists; not overwriting a signing key (remove it first)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(key.text() + "\n")
    print(key.public.text())
    print(f"wrote {path} (mode 600); set ACCESSBOT_AUDIT_KEY_FILE to it where serve runs, and verify with the "
          "public key above (ACCESSBOT_AUDIT_PUBLIC_KEY) somewhere else", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- checkpoint, checkpoints


async def checkpoint(store: Any, settings: Any, args: argparse.Namespace) -> int:
    """`audit checkpoint` signs one now and prints it; `--export` and `audit checkpoints` print the stored ones."""
    from bot.services.checkpoints import load_signing_key, write_checkpoint
    from bot.storage.checkpoints import stored_notes

    if args.audit_cmd == "checkpoints" or getattr(args, "export", False):
        async with store.engine.connect() as conn:
            notes = await stored_notes(conn)
        print("\n".join(notes), end="")
        if not notes:
            print("(no checkpoints yet: `accessbot audit checkpoint` signs one)", file=sys.stderr)
        return EXIT_OK
    if not settings.accessbot_audit_key_file:
        raise ConfigError("ACCESSBOT_AUDIT_KEY_FILE: not set (`accessbot audit keygen` makes a key)")
    key = load_signing_key(settings.accessbot_audit_key_file)
    cp = await write_checkpoint(store, key, settings.accessbot_audit_checkpoint_dir)
    assert cp is not None
    print(cp.note, end="")
    where = f" and in {settings.accessbot_audit_checkpoint_dir}" if settings.accessbot_audit_checkpoint_dir else ""
    print(f"checkpoint of {cp.size} event(s) stored in the database{where}; keep a copy outside it", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class _Source:
    name: str
    text: str


async def verify(store: Any, settings: Any, args: argparse.Namespace) -> int:
    """Check the hash chain, then every checkpoint (stored, and given with --checkpoint) against it. The rows are
    streamed a page at a time: only the chain hashes at the checkpoints' sizes are kept."""
    from bot.domain.audit import GENESIS_HASH, ChainCheck
    from bot.storage.checkpoints import stored_notes

    sources = [await _read_source(s) for s in getattr(args, "checkpoint", [])]
    key = _public_key(getattr(args, "public_key", None), settings, needed=bool(sources))
    async with store.read() as tx:
        # checkpoints first: the log only grows, so every checkpoint read is covered by the rows read after it
        notes = await stored_notes(tx.conn)
        stored, given, unreadable = _open_checkpoints(notes, sources, key)
        sizes = {cp.size for cp in [*stored, *given]}
        chain = ChainCheck()
        hash_at: dict[int, str] = {}
        async for row in tx.audit.stream():
            chain.add(row)
            if row["seq"] in sizes:
                hash_at[row["seq"]] = row["hash"]
    problems: list[str] = []
    if chain.broken is not None:
        problems.append(f"audit chain BROKEN at seq {chain.broken}")
    problems += unreadable
    if key is not None:
        for f in ckpt.findings(chain.count, lambda seq: hash_at.get(seq, ""), stored, given, GENESIS_HASH):
            problems.append(f"{f.kind.upper()}: {f.text}")
    if problems:
        for line in problems:
            print(line)
        return EXIT_PROBLEM
    line = f"audit chain OK: {chain.count} event(s)"
    checked = {cp.hash: cp for cp in [*stored, *given]}
    if checked:
        newest = max(checked.values(), key=lambda c: (c.size, c.at))
        line += (f"; {len(checked)} signed checkpoint(s) agree with it, the newest of {newest.at} "
                 f"at {newest.size} event(s)")
    elif notes:
        line += f" ({len(notes)} stored checkpoint(s) not checked: no public key)"
    print(line)
    return EXIT_OK


def _open_checkpoints(notes: list[str], sources: list[_Source], key: ckpt.PublicKey | None,
                      ) -> tuple[list[ckpt.Checkpoint], list[ckpt.Checkpoint], list[str]]:
    """The stored and the given checkpoints whose signatures check out, and a line for each that does not
    (nothing is opened without a key)."""
    stored: list[ckpt.Checkpoint] = []
    given: list[ckpt.Checkpoint] = []
    problems: list[str] = []
    if key is None:
        return stored, given, problems
    for i, note in enumerate(notes, 1):
        try:
            stored.append(ckpt.open_note(note, key))
        except ckpt.CheckpointError as exc:
            problems.append(f"stored checkpoint {i}: {exc}")
    for source in sources:
        found = ckpt.split_notes(source.text)
        if not found:
            problems.append(f"{source.name}: holds no checkpoint")
        for note in found:
            try:
                given.append(ckpt.open_note(note, key))
            except ckpt.CheckpointError as exc:
                problems.append(f"{source.name}: {exc}")
    return stored, given, problems


def _public_key(option: str | None, settings: Any, *, needed: bool) -> ckpt.PublicKey | None:
    """The verifying key from --public-key, ACCESSBOT_AUDIT_PUBLIC_KEY or the signing key file; None if none."""
    for label, value in (("--public-key", option), ("ACCESSBOT_AUDIT_PUBLIC_KEY", settings.accessbot_audit_public_key)):
        if value:
            text = value
            path = Path(value)
            if "+" not in value or path.is_file():
                from bot.services.checkpoints import read_key_text

                text = read_key_text(path, label, value[:200], ConfigError)
            try:
                return ckpt.PublicKey.parse(text)
            except ckpt.CheckpointError as exc:
                raise ConfigError(f"{label}: {exc}") from None
    if settings.accessbot_audit_key_file and Path(settings.accessbot_audit_key_file).exists():
        from bot.services.checkpoints import load_signing_key

        return load_signing_key(settings.accessbot_audit_key_file).public
    if needed:
        raise ConfigError("--public-key: not given (nor ACCESSBOT_AUDIT_PUBLIC_KEY); checkpoints cannot be "
                          "checked without the key that signs them")
    return None


async def _read_source(where: str) -> _Source:
    """The text of a checkpoint file, of every *.checkpoint in a directory, or of an http(s) URL."""
    if where.startswith(("http://", "https://")):
        import httpx

        try:
            async with httpx.AsyncClient(timeout=10) as http, http.stream("GET", where) as resp:
                if resp.status_code != 200:
                    raise ConfigError(f"--checkpoint {where[:200]}: HTTP {resp.status_code}")
                body = b""
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_SOURCE:
                        raise ConfigError(f"--checkpoint {where[:200]}: larger than {MAX_SOURCE // 1024} KiB")
        except httpx.HTTPError as exc:
            raise ConfigError(f"--checkpoint {where[:200]}: cannot fetch: {type(exc).__name__}") from None
        return _Source(where, _decode(where, body))
    path = Path(where)
    files = sorted(path.glob("*.checkpoint")) if path.is_dir() else [path]
    texts = []
    for file in files:
        try:
            with file.open("rb") as fh:
                raw = fh.read(MAX_SOURCE + 1)
        except OSError as exc:
            raise ConfigError(f"--checkpoint {file}: cannot read: {exc.strerror or exc}") from None
        if len(raw) > MAX_SOURCE:
            raise ConfigError(f"--checkpoint {file}: larger than {MAX_SOURCE // 1024} KiB")
        texts.append(_decode(str(file), raw))
    if not files:
        raise ConfigError(f"--checkpoint {where}: no *.checkpoint files in the directory")
    return _Source(where, "\n".join(texts))


def _decode(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"--checkpoint {name[:200]}: not UTF-8 text") from None
