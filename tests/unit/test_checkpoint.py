"""Signed audit checkpoints as pure functions: the note format, keys, signatures, and what verify finds."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from bot.domain import checkpoint as ckpt
from bot.domain.audit import GENESIS_HASH, AuditEvent, seal
from bot.slack.notifier import audit_line

AT = "2026-12-01T21:00:00.000000Z"


def chain(n: int, salt: str = "") -> list[dict]:
    """n sealed audit rows."""
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        row = seal(AuditEvent("cli", "test.event", details={"n": seq, "salt": salt}), seq,
                   datetime(2026, 12, 1, tzinfo=UTC), prev)
        rows.append(row)
        prev = row["hash"]
    return rows


@pytest.fixture(scope="module")
def key() -> ckpt.SigningKey:
    return ckpt.SigningKey.generate("accessbot.test/audit")


def test_a_checkpoint_is_a_c2sp_signed_note_with_origin_size_base64_head_time_and_previous(key) -> None:
    rows = chain(3)
    cp = ckpt.make(key, 3, rows[-1]["hash"], AT, ckpt.NO_PREVIOUS)
    text, sig_line = cp.note.split("\n\n")
    assert text.split("\n") == ["accessbot.test/audit", "3", base64.b64encode(bytes.fromhex(rows[-1]["hash"])).decode(),
                                f"time {AT}", "previous " + base64.b64encode(bytes(32)).decode()]
    dash, name, sig = sig_line.rstrip("\n").split(" ")
    assert dash == "\u2014" and name == "accessbot.test/audit"
    raw = base64.b64decode(sig)
    public = base64.b64decode(key.public.text().split("+", 2)[2])[1:]
    assert raw[:4] == hashlib.sha256(b"accessbot.test/audit\n\x01" + public).digest()[:4]  # the key ID
    key.public.key.verify(raw[4:], (text + "\n").encode())  # Ed25519 over the note text with its final newline
    assert ckpt.open_note(cp.note, key.public) == cp


def test_keys_round_trip_through_their_text_form_in_gos_note_encoding(key) -> None:
    text = key.text()
    assert text.startswith("PRIVATE+KEY+accessbot.test/audit+")
    again = ckpt.SigningKey.parse(text)
    assert again.public.text() == key.public.text()
    assert ckpt.PublicKey.parse(key.public.text()).text() == key.public.text()
    name, hex_id, data = key.public.text().split("+", 2)
    assert name == "accessbot.test/audit" and len(hex_id) == 8 and base64.b64decode(data)[0] == 1


@pytest.mark.parametrize("text", ["", "nonsense", "PRIVATE+KEY+a+00000000+AAAA", "a b+12345678+AAAA"])
def test_a_key_that_is_not_one_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(ckpt.CheckpointError):
        ckpt.SigningKey.parse(text)
    with pytest.raises(ckpt.CheckpointError):
        ckpt.PublicKey.parse(text)


def test_a_public_key_whose_id_does_not_match_is_refused(key) -> None:
    name, hex_id, data = key.public.text().split("+", 2)
    with pytest.raises(ckpt.CheckpointError, match="ID does not match"):
        ckpt.PublicKey.parse(f"other.name+{hex_id}+{data}")


def test_an_altered_checkpoint_fails_its_signature(key) -> None:
    cp = ckpt.make(key, 3, chain(3)[-1]["hash"], AT, ckpt.NO_PREVIOUS)
    with pytest.raises(ckpt.CheckpointError, match="bad signature"):
        ckpt.open_note(cp.note.replace("\n3\n", "\n4\n"), key.public)


def test_a_checkpoint_signed_by_another_key_is_refused(key) -> None:
    other = ckpt.SigningKey.generate("accessbot.test/audit")
    cp = ckpt.make(other, 0, GENESIS_HASH, AT, ckpt.NO_PREVIOUS)
    with pytest.raises(ckpt.CheckpointError, match="not signed by"):
        ckpt.open_note(cp.note, key.public)


def test_a_witness_signature_beside_ours_is_ignored(key) -> None:
    cp = ckpt.make(key, 0, GENESIS_HASH, AT, ckpt.NO_PREVIOUS)
    witness = ckpt.SigningKey.generate("witness.example")
    text = cp.note.split("\n\n")[0] + "\n"
    extra = witness.sign(text).split("\n\n")[1]
    assert ckpt.open_note(cp.note + extra, key.public).size == 0


def test_several_notes_in_one_text_are_split_back_into_each(key) -> None:
    a = ckpt.make(key, 0, GENESIS_HASH, AT, ckpt.NO_PREVIOUS)
    b = ckpt.make(key, 2, chain(2)[-1]["hash"], AT, a.hash)
    assert ckpt.split_notes(a.note + b.note) == [a.note, b.note]
    assert ckpt.split_notes("\n" + a.note + "\n\n" + b.note + "\n") == [a.note, b.note]


def test_a_note_with_control_characters_or_far_too_long_is_refused(key) -> None:
    cp = ckpt.make(key, 0, GENESIS_HASH, AT, ckpt.NO_PREVIOUS)
    with pytest.raises(ckpt.CheckpointError):
        ckpt.open_note(cp.note.replace("time", "ti\x00me"), key.public)
    with pytest.raises(ckpt.CheckpointError):
        ckpt.open_note("x" * 100_000 + cp.note, key.public)


# --------------------------------------------------------------------------- findings


def kinds(rows: list[dict], stored: list[ckpt.Checkpoint], given: list[ckpt.Checkpoint]) -> list[str]:
    by_seq = {r["seq"]: r["hash"] for r in rows}
    return [f.kind for f in ckpt.findings(len(rows), lambda s: by_seq.get(s, ""), stored, given, GENESIS_HASH)]


def test_checkpoints_that_agree_with_the_log_find_nothing(key) -> None:
    rows = chain(5)
    a = ckpt.make(key, 0, GENESIS_HASH, AT, ckpt.NO_PREVIOUS)
    b = ckpt.make(key, 3, rows[2]["hash"], AT, a.hash)
    c = ckpt.make(key, 5, rows[4]["hash"], AT, b.hash)
    assert kinds(rows, [a, b, c], [b, c]) == []


def test_a_log_shorter_than_a_checkpoint_is_truncated(key) -> None:
    rows = chain(5)
    cp = ckpt.make(key, 5, rows[4]["hash"], AT, ckpt.NO_PREVIOUS)
    assert kinds(rows[:3], [], [cp]) == ["truncated", "missing"]


def test_a_log_recomputed_after_dropping_an_event_is_rewritten(key) -> None:
    rows = chain(5)
    cp = ckpt.make(key, 4, rows[3]["hash"], AT, ckpt.NO_PREVIOUS)
    recomputed = chain(5, salt="after dropping one")
    assert kinds(recomputed, [], [cp]) == ["rewritten", "missing"]


def test_two_checkpoints_disagreeing_at_one_size_are_a_fork(key) -> None:
    a = ckpt.make(key, 4, chain(4)[-1]["hash"], AT, ckpt.NO_PREVIOUS)
    b = ckpt.make(key, 4, chain(4, salt="other history")[-1]["hash"], "2026-12-01T22:00:00.000000Z",
                  ckpt.NO_PREVIOUS)
    found = kinds(chain(4), [a], [b])
    assert found.count("fork") == 2 and "rewritten" in found  # same size, and both follow "no previous"


def test_a_stored_checkpoint_that_does_not_name_the_one_before_it_is_a_broken_link(key) -> None:
    rows = chain(5)
    a = ckpt.make(key, 1, rows[0]["hash"], AT, ckpt.NO_PREVIOUS)
    b = ckpt.make(key, 3, rows[2]["hash"], AT, a.hash)
    c = ckpt.make(key, 5, rows[4]["hash"], AT, b.hash)
    assert kinds(rows, [a, c], []) == ["link"]  # b was deleted from the database
    assert kinds(rows, [a, c], [b]) == ["link", "missing"]


def test_every_audit_channel_line_ends_with_the_chain_head_after_its_event() -> None:
    rows = chain(2)
    assert audit_line(rows[1]).endswith(f" · head {rows[1]['hash'][:12]}…")
    long = {**rows[1], "subject": "s" * 5000, "details": {"reason": "r" * 5000}}
    line = audit_line(long)
    assert len(line) <= 3000 and line.endswith(f" · head {rows[1]['hash'][:12]}…")
