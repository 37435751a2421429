"""`accessbot audit keygen | checkpoint | checkpoints | verify --checkpoint`: a real process against a real database,
and the attacks a checkpoint kept outside the database must catch (truncation, rewrite, fork, forged signature)."""

from __future__ import annotations

import asyncio
import re
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import delete, insert, select

from bot.domain.audit import GENESIS_HASH, AuditEvent, canonical_json, chain_hash
from bot.domain.checkpoint import SigningKey, split_notes
from bot.polling import eventually
from bot.services.checkpoints import KeyFileError, periodic_checkpoints, start_periodic
from bot.storage import tables as t
from tests.core_harness import Core
from tests.integration import test_cli
from tests.integration.test_cli import arun_cli, core_env, show

core = test_cli.core  # the CLI tests' fixture: a harness database (workdir, an empty cwd, is in conftest.py)


@pytest.fixture
def keys(workdir: Path) -> dict[str, Path]:
    """Where the signing key and the checkpoint copies go (outside the working directory's database)."""
    base = workdir.parent / "keys"
    base.mkdir()
    return {"key": base / "audit.key", "dir": base / "checkpoints"}


def env_of(core: Core, workdir: Path, keys: dict[str, Path], **more: str | None) -> dict[str, str]:
    return core_env(core, workdir, ACCESSBOT_AUDIT_KEY_FILE=str(keys["key"]),
                    ACCESSBOT_AUDIT_CHECKPOINT_DIR=str(keys["dir"]), **more)


async def events(core: Core, n: int, label: str = "x") -> None:
    """Append n audit events through the store (as the use cases do)."""
    for i in range(n):
        async with core.deps.store.tx() as tx:
            await tx.audit.append(AuditEvent("cli", "test.event", subject=f"{label}{i}@example.com"))


async def keygen(workdir: Path, env: dict[str, str]) -> str:
    out = await arun_cli(workdir, "audit", "keygen", "--name", "accessbot.test/audit", env=env)
    assert out.returncode == 0, show(out)
    return out.stdout.strip()


async def checkpoint(workdir: Path, env: dict[str, str]) -> str:
    out = await arun_cli(workdir, "audit", "checkpoint", env=env)
    assert out.returncode == 0, show(out)
    return out.stdout


async def verify(workdir: Path, env: dict[str, str], *args: str):  # noqa: ANN201
    out = await arun_cli(workdir, "audit", "verify", *args, env=env)
    assert "Traceback" not in out.stderr + out.stdout, show(out)
    return out


async def rows_of(core: Core) -> list[dict]:
    async with core.deps.store.tx() as tx:
        return await tx.audit.rows()


async def recompute_chain_without(core: Core, drop_seq: int) -> None:
    """What an attacker with the database does: drop an event, renumber, recompute every hash."""
    kept = [r for r in await rows_of(core) if r["seq"] != drop_seq]
    async with core.deps.store.engine.begin() as conn:
        await conn.execute(delete(t.audit_log))
        prev = GENESIS_HASH
        for seq, row in enumerate(kept, 1):
            record = {**row, "seq": seq, "prev_hash": prev}
            record["hash"] = chain_hash(prev, record)
            await conn.execute(insert(t.audit_log).values(**{**record, "details": canonical_json(record["details"])}))
            prev = record["hash"]


async def forget_checkpoints(core: Core) -> None:
    """The attacker also empties the checkpoint table (it is in the database they rewrite)."""
    async with core.deps.store.engine.begin() as conn:
        await conn.execute(delete(t.audit_checkpoints))


# --------------------------------------------------------------------------- keygen


async def test_keygen_writes_a_private_key_only_its_owner_can_read_and_prints_the_public_key(
        core: Core, workdir: Path, keys: dict[str, Path]) -> None:
    env = env_of(core, workdir, keys)
    public = await keygen(workdir, env)
    assert re.fullmatch(r"accessbot\.test/audit\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*", public), public
    assert stat.S_IMODE(keys["key"].stat().st_mode) == 0o600
    secret = keys["key"].read_text()
    assert secret.startswith("PRIVATE+KEY+accessbot.test/audit+")
    assert SigningKey.parse(secret).public.text() == public
    assert secret.strip() not in public
    again = await arun_cli(workdir, "audit", "keygen", env=env)
    assert again.returncode == 2 and "not overwriting" in again.stderr, show(again)
    assert keys["key"].read_text() == secret


async def test_a_checkpoint_needs_a_key_file_and_refuses_one_others_can_read(
        core: Core, workdir: Path, keys: dict[str, Path]) -> None:
    out = await arun_cli(workdir, "audit", "checkpoint", env=core_env(core, workdir))
    assert out.returncode == 2 and "ACCESSBOT_AUDIT_KEY_FILE: not set" in out.stderr, show(out)
    env = env_of(core, workdir, keys)
    await keygen(workdir, env)
    keys["key"].chmod(0o644)
    out = await arun_cli(workdir, "audit", "checkpoint", env=env)
    assert out.returncode == 2 and "open to other users" in out.stderr, show(out)
    assert "PRIVATE" not in out.stderr + out.stdout


# --------------------------------------------------------------------------- the happy path


async def test_checkpoints_are_stored_copied_outside_and_verify_from_a_file_a_directory_and_a_url(
        core: Core, workdir: Path, keys: dict[str, Path]) -> None:
    env = env_of(core, workdir, keys)
    public = await keygen(workdir, env)
    await events(core, 3)
    first = await checkpoint(workdir, env)
    assert first.splitlines()[:2] == ["accessbot.test/audit", "3"]
    await events(core, 2)
    second = await checkpoint(workdir, env)
    assert second.splitlines()[1] == "5"
    files = sorted(p.name for p in keys["dir"].glob("*.checkpoint"))
    assert len(files) == 3 and "latest.checkpoint" in files
    assert (keys["dir"] / "latest.checkpoint").read_text() == second
    exported = await arun_cli(workdir, "audit", "checkpoints", env=env)
    assert exported.returncode == 0 and split_notes(exported.stdout) == [first, second], show(exported)
    saved = workdir.parent / "exported.txt"
    saved.write_text(exported.stdout)
    await events(core, 1)  # events after the last checkpoint are allowed (and not covered)

    only_public = core_env(core, workdir, ACCESSBOT_AUDIT_PUBLIC_KEY=public)
    for source in (str(saved), str(keys["dir"]), str(keys["dir"] / "latest.checkpoint")):
        ok = await verify(workdir, only_public, "--checkpoint", source)
        assert ok.returncode == 0, show(ok)
        assert "audit chain OK: 6 event(s)" in ok.stdout and "2 signed checkpoint(s) agree" in ok.stdout, show(ok)

    app = web.Application()
    app.router.add_get("/audit.checkpoints", lambda _: web.Response(text=exported.stdout))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/audit.checkpoints"
    try:
        ok = await verify(workdir, core_env(core, workdir), "--checkpoint", url, "--public-key", public)
        assert ok.returncode == 0 and "2 signed checkpoint(s) agree" in ok.stdout, show(ok)
        missing = await verify(workdir, only_public, "--checkpoint", url.replace("audit.", "nothing."))
        assert missing.returncode == 2 and "HTTP 404" in missing.stderr, show(missing)
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- attacks


async def test_deleting_the_last_events_is_found_as_truncation(core: Core, workdir: Path,
                                                                keys: dict[str, Path]) -> None:
    env = env_of(core, workdir, keys)
    await keygen(workdir, env)
    await events(core, 6)
    await checkpoint(workdir, env)
    async with core.deps.store.engine.begin() as conn:
        await conn.execute(delete(t.audit_log).where(t.audit_log.c.seq > 4))
    await forget_checkpoints(core)
    assert (await verify(workdir, env)).returncode == 0, "the chain alone cannot tell"
    out = await verify(workdir, env, "--checkpoint", str(keys["dir"] / "latest.checkpoint"))
    assert out.returncode == 1, show(out)
    assert "TRUNCATED" in out.stdout and "covers 6 events but the log has 4" in out.stdout, show(out)


async def test_recomputing_the_whole_chain_after_dropping_an_event_is_found_as_a_rewrite(
        core: Core, workdir: Path, keys: dict[str, Path]) -> None:
    env = env_of(core, workdir, keys)
    await keygen(workdir, env)
    await events(core, 6)
    await checkpoint(workdir, env)
    await recompute_chain_without(core, drop_seq=3)
    await forget_checkpoints(core)
    await events(core, 2, label="later")  # the log goes on, past the checkpoint's size
    assert (await verify(workdir, env)).returncode == 0, "the chain alone cannot tell"
    out = await verify(workdir, env, "--checkpoint", str(keys["dir"]))
    assert out.returncode == 1, show(out)
    assert "REWRITTEN" in out.stdout and "rewritten at or before event 6" in out.stdout, show(out)


async def test_two_signed_checkpoints_of_different_histories_are_found_as_a_fork(
        core: Core, workdir: Path, keys: dict[str, Path]) -> None:
    env = env_of(core, workdir, keys)
    await keygen(workdir, env)
    await events(core, 5)
    before = workdir.parent / "before.checkpoint"
    before.write_text(await checkpoint(workdir, env))
    # a restore from an older backup, after which the bot carried on: same size, another history
    async with core.deps.store.engine.begin() as conn:
        await conn.execute(delete(t.audit_log).where(t.audit_log.c.seq > 3))
    await events(core, 2, label="restored")
    after = workdir.parent / "after.checkpoint"
    after.write_text(await checkpoint(workdir, env))
    out = await verify(workdir, env, "--checkpoint", str(before), "--checkpoint", str(after))
    assert out.returncode == 1, show(out)
    assert "FORK: forked history" in out.stdout and "disagree on the head at size 5" in out.stdout, show(out)


async def test_a_stored_checkpoint_removed_from_the_chain_of_checkpoints_is_a_broken_link(
        core: Core, workdir: Path, keys: dict[str, Path]) -> None:
    env = env_of(core, workdir, keys)
    await keygen(workdir, env)
    for _ in range(3):
        await events(core, 2)
        await checkpoint(workdir, env)
    assert (await verify(workdir, env)).returncode == 0
    async with core.deps.store.engine.begin() as conn:
        middle = (await conn.execute(select(t.audit_checkpoints.c.id).order_by(t.audit_checkpoints.c.id))).all()[1]
        await conn.execute(delete(t.audit_checkpoints).where(t.audit_checkpoints.c.id == middle.id))
    out = await verify(workdir, env, "--checkpoint", str(keys["dir"]))
    assert out.returncode == 1, show(out)
    assert "LINK: stored checkpoint 2" in out.stdout and "does not follow stored checkpoint 1" in out.stdout
    assert "MISSING" in out.stdout, show(out)


async def test_an_altered_or_foreign_checkpoint_fails_on_its_signature(core: Core, workdir: Path,
                                                                       keys: dict[str, Path]) -> None:
    env = env_of(core, workdir, keys)
    await keygen(workdir, env)
    await events(core, 4)
    note = await checkpoint(workdir, env)
    altered = workdir.parent / "altered.checkpoint"
    altered.write_text(note.replace("\n4\n", "\n2\n"))
    out = await verify(workdir, env, "--checkpoint", str(altered))
    assert out.returncode == 1 and "bad signature by accessbot.test/audit" in out.stdout, show(out)

    other_key = workdir.parent / "other.key"
    other = await arun_cli(workdir, "audit", "keygen", "--name", "accessbot.test/audit", "--out", str(other_key),
                           env=env)
    assert other.returncode == 0, show(other)
    foreign = await arun_cli(workdir, "audit", "checkpoint", env={**env, "ACCESSBOT_AUDIT_KEY_FILE": str(other_key),
                                                                  "ACCESSBOT_AUDIT_CHECKPOINT_DIR": ""})
    forged = workdir.parent / "forged.checkpoint"
    forged.write_text(foreign.stdout)
    out = await verify(workdir, env, "--checkpoint", str(forged))
    assert out.returncode == 1 and "not signed by accessbot.test/audit+" in out.stdout, show(out)
    # the forged one was stored in the database too: verify names it there as well
    assert "stored checkpoint 2: not signed by" in out.stdout, show(out)


async def test_verify_with_a_checkpoint_but_no_public_key_says_which_setting_is_missing(
        core: Core, workdir: Path) -> None:
    (workdir.parent / "some.checkpoint").write_text("x\n")
    out = await verify(workdir, core_env(core, workdir), "--checkpoint", str(workdir.parent / "some.checkpoint"))
    assert out.returncode == 2 and "--public-key: not given" in out.stderr, show(out)


# --------------------------------------------------------------------------- serve writes them periodically


async def test_serve_signs_a_checkpoint_at_start_every_interval_while_the_log_grows_and_at_stop(
        core: Core, tmp_path: Path) -> None:
    key = SigningKey.generate("accessbot.test/audit")
    out_dir = tmp_path / "cps"
    stop = asyncio.Event()
    task = asyncio.create_task(periodic_checkpoints(core.deps.store, key, str(out_dir), timedelta(seconds=0.2), stop))
    await events(core, 2)

    async def two_signed() -> bool:
        async with core.deps.store.tx() as tx:
            return 2 in [r.tree_size for r in (await tx.conn.execute(select(t.audit_checkpoints))).all()]

    await eventually(two_signed, 5, "a checkpoint of two events", step=0.05)
    await asyncio.sleep(0.5)  # a few intervals without new events write nothing more
    await events(core, 1)
    stop.set()
    await asyncio.wait_for(task, 10)
    async with core.deps.store.tx() as tx:
        sizes = [r.tree_size for r in (await tx.conn.execute(
            select(t.audit_checkpoints).order_by(t.audit_checkpoints.c.id))).all()]
    assert sizes[-1] == 3 and sizes.count(2) == 1 and sizes == sorted(sizes), sizes
    assert (out_dir / "latest.checkpoint").read_text().splitlines()[1] == "3"


def test_serve_starts_the_periodic_checkpoints_only_with_a_usable_key(tmp_path: Path) -> None:
    from bot.config.settings import Settings

    async def go() -> None:
        stop = asyncio.Event()
        assert start_periodic(Settings(), None, stop) is None  # type: ignore[arg-type]
        key_file = tmp_path / "k"
        assert start_periodic(Settings(accessbot_audit_key_file=str(key_file),
                                       accessbot_audit_checkpoint_interval=timedelta(0)), None, stop) is None
        with pytest.raises(KeyFileError, match="ACCESSBOT_AUDIT_KEY_FILE: no such file"):
            start_periodic(Settings(accessbot_audit_key_file=str(key_file)), None, stop)  # type: ignore[arg-type]

    asyncio.run(go())


async def test_serve_with_an_unusable_key_file_exits_2_with_one_line(workdir: Path) -> None:
    from tests.integration.test_cli import one_clear_line, serve_env

    env = serve_env(workdir / "accessbot.db", ACCESSBOT_AUDIT_KEY_FILE=str(workdir / "missing.key"))
    out = await arun_cli(workdir, "serve", env=env, timeout=60)
    assert out.returncode == 2, show(out)
    assert "ACCESSBOT_AUDIT_KEY_FILE: no such file" in one_clear_line(out)



async def test_checkpoints_signed_concurrently_with_new_events_form_one_linear_chain(core: Core) -> None:
    from bot.domain import checkpoint as ckpt
    from bot.domain.audit import GENESIS_HASH
    from bot.services.checkpoints import write_checkpoint
    from bot.storage.checkpoints import stored_notes

    key = SigningKey.generate("accessbot.test/audit")
    await asyncio.gather(*(write_checkpoint(core.deps.store, key) for _ in range(6)),
                         *(events(core, 2, label=f"race{i}") for i in range(6)))
    async with core.deps.store.engine.connect() as conn:
        stored = [ckpt.open_note(n, key.public) for n in await stored_notes(conn)]
    rows = await rows_of(core)
    by_seq = {r["seq"]: r["hash"] for r in rows}
    assert len(stored) == 6 and len(rows) == 12
    assert ckpt.findings(len(rows), by_seq.__getitem__, stored, [], GENESIS_HASH) == []
