"""Signed audit checkpoints: the C2SP tlog-checkpoint text in a C2SP signed note, Ed25519, and what they prove.

A checkpoint commits to the audit chain at one size:

    accessbot.example/audit                  origin (the key's name)
    1234                                     tree size: the number of events (the last seq)
    P0b1…=                                   "root hash": base64 of the chain hash of event 1234 (the head)
    time 2026-12-01T21:00:00.000000Z         when it was signed
    previous 9f2c…=                          base64 SHA-256 of the previous checkpoint's whole note (zeros: none)

    — accessbot.example/audit base64(key ID ‖ Ed25519 signature)

The chain is a hash chain, not a Merkle tree: the head hash covers every event before it, so a checkpoint
fixes all of events 1..size, but there are no inclusion or consistency proofs (checking one means
recomputing the chain). Keys use Go's note encoding: `PRIVATE+KEY+<name>+<id>+<base64(0x01‖seed)>` for the
signer (kept in a file outside the database), `<name>+<id>+<base64(0x01‖public key)>` to verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01  # the signed-note signature type
NO_PREVIOUS = "0" * 64
DASH = "\u2014"  # em dash, which starts a signature line
MAX_NOTE = 16 * 1024  # bytes of one note (ours are ~300)
_NAME = re.compile(r"[^\s+]{1,200}")


class CheckpointError(ValueError):
    """A key or checkpoint that cannot be read or whose signature does not hold; the message says which."""


def key_id(name: str, public: bytes) -> bytes:
    """The signed-note key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def check_name(name: str) -> str:
    """A key name (also the checkpoints' origin): non-empty, no spaces, no '+'."""
    if not _NAME.fullmatch(name):
        raise CheckpointError(f"{name[:60]!r} is not a key name (non-empty, no spaces or '+', e.g. example.com/audit)")
    return name


@dataclass(frozen=True)
class PublicKey:
    """A verifier key: the name signatures carry, the key ID, and the Ed25519 public key."""

    name: str
    id: bytes
    key: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """Read `<name>+<id hex>+<base64(0x01‖key)>`; CheckpointError when it is not one."""
        parts = text.strip().split("+")
        if len(parts) < 3:
            raise CheckpointError("not a public key (expected name+id+base64, as `accessbot audit keygen` prints)")
        name, hex_id, data = parts[0], parts[1], "+".join(parts[2:])
        check_name(name)
        raw = _b64(data, "the public key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise CheckpointError("not an Ed25519 public key")
        if not re.fullmatch(r"[0-9a-f]{8}", hex_id) or bytes.fromhex(hex_id) != key_id(name, raw[1:]):
            raise CheckpointError("the public key's ID does not match its name and key")
        return cls(name, bytes.fromhex(hex_id), Ed25519PublicKey.from_public_bytes(raw[1:]))

    def text(self) -> str:
        """The key as `<name>+<id hex>+<base64(0x01‖key)>`."""
        data = base64.b64encode(bytes([ED25519]) + _raw_public(self.key)).decode()
        return f"{self.name}+{self.id.hex()}+{data}"


@dataclass(frozen=True)
class SigningKey:
    """The private key that signs checkpoints, with its name."""

    name: str
    key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        """A fresh key for `name`."""
        return cls(check_name(name), Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, text: str) -> SigningKey:
        """Read `PRIVATE+KEY+<name>+<id hex>+<base64(0x01‖seed)>`; CheckpointError (never echoing it) otherwise."""
        parts = text.strip().split("+")
        if len(parts) < 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise CheckpointError("not a private key (expected PRIVATE+KEY+name+id+base64, as keygen writes)")
        name, hex_id, data = parts[2], parts[3], "+".join(parts[4:])
        check_name(name)
        raw = _b64(data, "the private key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise CheckpointError("not an Ed25519 private key")
        key = Ed25519PrivateKey.from_private_bytes(raw[1:])
        public = _raw_public(key.public_key())
        if not re.fullmatch(r"[0-9a-f]{8}", hex_id) or bytes.fromhex(hex_id) != key_id(name, public):
            raise CheckpointError("the private key's ID does not match its name and key")
        return cls(name, key)

    def text(self) -> str:
        """The private key in Go's note encoding (for the key file only)."""
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"PRIVATE+KEY+{self.name}+{self.public.id.hex()}+{base64.b64encode(bytes([ED25519]) + seed).decode()}"

    @property
    def public(self) -> PublicKey:
        """The matching verifier key."""
        pub = self.key.public_key()
        return PublicKey(self.name, key_id(self.name, _raw_public(pub)), pub)

    def sign(self, text: str) -> str:
        """`text` (ending in a newline) as a signed note with one signature line."""
        sig = self.public.id + self.key.sign(text.encode())
        return f"{text}\n{DASH} {self.name} {base64.b64encode(sig).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose signature was verified (or that we just signed)."""

    origin: str
    size: int
    head: str  # hex chain hash of event `size` (the genesis hash for size 0)
    at: str
    previous: str  # hex SHA-256 of the previous checkpoint's note, NO_PREVIOUS for the first
    note: str

    @property
    def hash(self) -> str:
        """Hex SHA-256 of the whole note: what the next checkpoint names as `previous`."""
        return note_hash(self.note)

    def describe(self) -> str:
        """How a finding names it: size, time, short head."""
        return f"the checkpoint of {self.at} (size {self.size}, head {self.head[:12]})"


def note_hash(note: str) -> str:
    """Hex SHA-256 of a note's text as stored and exported."""
    return hashlib.sha256(note.encode()).hexdigest()


def body(origin: str, size: int, head: str, at: str, previous: str) -> str:
    """The checkpoint text that is signed."""
    return (f"{origin}\n{size}\n{_hex_b64(head)}\ntime {at}\nprevious {_hex_b64(previous)}\n")


def make(key: SigningKey, size: int, head: str, at: str, previous: str) -> Checkpoint:
    """Sign a checkpoint of the chain at `size` whose head hash is `head`."""
    note = key.sign(body(key.name, size, head, at, previous))
    return Checkpoint(key.name, size, head, at, previous, note)


def split_notes(text: str) -> list[str]:
    """The signed notes in a text holding one or more (as `audit checkpoints` prints them), in order."""
    notes: list[str] = []
    current: list[str] = []
    in_signatures = False
    for line in text.splitlines(keepends=True):
        is_signature = line.startswith(DASH + " ")
        if in_signatures and not is_signature:  # the next note begins
            notes.append("".join(current))
            current, in_signatures = [], False
        if not current and not line.strip():
            continue  # blank lines between notes
        current.append(line)
        if is_signature and (in_signatures or (len(current) >= 2 and current[-2] == "\n")):
            in_signatures = True
    if current:
        notes.append("".join(current))
    return notes


def open_note(note: str, key: PublicKey) -> Checkpoint:
    """The checkpoint in `note` once `key`'s signature on it is verified; CheckpointError saying what is wrong."""
    if len(note.encode()) > MAX_NOTE:
        raise CheckpointError(f"longer than {MAX_NOTE} bytes")
    if any(ord(c) < 0x20 and c != "\n" for c in note) or not note.endswith("\n"):
        raise CheckpointError("not a signed note (control characters, or no final newline)")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise CheckpointError("not a signed note (no blank line before the signatures)")
    text, sig_lines = note[:cut + 1], note[cut + 2:].splitlines()
    if not sig_lines:
        raise CheckpointError("not signed")
    ours = False
    for line in sig_lines:
        m = re.fullmatch(rf"{DASH} (\S+) ([A-Za-z0-9+/=]+)", line)
        if not m:
            raise CheckpointError(f"a malformed signature line: {line[:60]!r}")
        raw = _b64(m.group(2), "a signature")
        if m.group(1) != key.name or raw[:4] != key.id:
            continue  # another key's signature (a witness's): ignored, as the spec says
        ours = True
        try:
            key.key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise CheckpointError(f"bad signature by {key.name}: the checkpoint was altered or forged") from None
    if not ours:
        raise CheckpointError(f"not signed by {key.name}+{key.id.hex()} (another key signed it)")
    lines = text.splitlines()
    if len(lines) < 3:
        raise CheckpointError("a checkpoint has at least an origin, a size and a hash")
    origin, size_text, head_b64, *ext = lines
    if not re.fullmatch(r"0|[1-9][0-9]{0,18}", size_text):
        raise CheckpointError(f"the tree size {size_text[:30]!r} is not a number")
    fields = dict(line.split(" ", 1) for line in ext if " " in line)
    if "time" not in fields or "previous" not in fields:
        raise CheckpointError("the checkpoint names no time or no previous checkpoint")
    return Checkpoint(origin, int(size_text), _b64_hex(head_b64, "the head hash"), fields["time"],
                      _b64_hex(fields["previous"], "the previous checkpoint's hash"), note)


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Finding:
    """One thing `audit verify` found: its kind (truncated, rewritten, fork, link, missing) and a sentence."""

    kind: str
    text: str


def findings(events: int, hash_at: Callable[[int], str], stored: list[Checkpoint],
             given: Iterable[Checkpoint], genesis: str) -> list[Finding]:
    """What is wrong between the audit rows and the checkpoints.

    `events` is the number of rows, `hash_at(seq)` the stored chain hash of event `seq`; `stored` are the
    database's checkpoints in the order they were written, `given` the ones kept outside it (all with
    verified signatures). Truncation: a checkpoint is larger than the log. Rewrite: the event at a
    checkpoint's size has another hash. Fork: two checkpoints at one size with different heads, or two that
    name the same previous one. Link: a stored checkpoint that does not name the one stored before it.
    Missing: a checkpoint kept outside that the database no longer has.
    """
    out: list[Finding] = []
    given = list(given)
    everyone: dict[str, Checkpoint] = {}
    for cp in [*stored, *given]:
        everyone.setdefault(cp.hash, cp)
    for cp in everyone.values():
        if cp.size > events:
            out.append(Finding("truncated", f"{cp.describe()} covers {cp.size} events but the log has {events}: "
                                            f"events {events + 1}..{cp.size} were removed"))
        else:
            actual = hash_at(cp.size) if cp.size else genesis
            if actual != cp.head:
                out.append(Finding("rewritten", f"event {cp.size} has chain hash {actual[:12]}, not the "
                                                f"{cp.head[:12]} of {cp.describe()}: the log was rewritten at or "
                                                f"before event {cp.size}"))
    by_size: dict[int, Checkpoint] = {}
    by_previous: dict[str, Checkpoint] = {}
    for cp in sorted(everyone.values(), key=lambda c: (c.size, c.at)):
        other = by_size.setdefault(cp.size, cp)
        if other.head != cp.head:
            out.append(Finding("fork", f"forked history: {other.describe()} and {cp.describe()} are both signed "
                                       f"but disagree on the head at size {cp.size}"))
        sibling = by_previous.setdefault(cp.previous, cp)
        if sibling is not cp:
            out.append(Finding("fork", f"forked history: {sibling.describe()} and {cp.describe()} both follow "
                                       f"the same previous checkpoint"))
    expected = NO_PREVIOUS
    for i, cp in enumerate(stored, 1):
        if cp.previous != expected:
            before = "no checkpoint" if expected == NO_PREVIOUS else f"stored checkpoint {i - 1}"
            out.append(Finding("link", f"stored checkpoint {i}, {cp.describe()}, does not follow {before}: "
                                       "checkpoints were removed or rewritten in the database"))
        expected = cp.hash
    stored_hashes = {cp.hash for cp in stored}
    for cp in given:
        if cp.hash not in stored_hashes:
            out.append(Finding("missing", f"{cp.describe()} is not in the database any more"))
    return out


# --------------------------------------------------------------------------- encodings


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError(f"{what} is not base64") from None


def _hex_b64(hex_hash: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_hash)).decode()


def _b64_hex(text: str, what: str) -> str:
    raw = _b64(text, what)
    if len(raw) != 32:
        raise CheckpointError(f"{what} is not 32 bytes")
    return raw.hex()
