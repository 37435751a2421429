"""A running bot signs audit checkpoints by itself, and the audit channel carries the chain head of every event."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.domain import checkpoint as ckpt
from bot.storage import tables as t
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import ALICE, AUDIT_CHANNEL, AUDITED_POLICY, audit, settle, slash, wait_until


async def stored(stack) -> list[ckpt.Checkpoint]:  # noqa: ANN001
    key = ckpt.PublicKey.parse(stack.extra["public"])
    async with stack.bot.deps.store.engine.connect() as conn:
        rows = (await conn.execute(select(t.audit_checkpoints.c.note).order_by(t.audit_checkpoints.c.id))).all()
    return [ckpt.open_note(r.note, key) for r in rows]


async def test_serve_signs_checkpoints_as_the_log_grows_and_audit_lines_carry_the_head(
        make_stack: StackFactory, tmp_path: Path) -> None:
    key = ckpt.SigningKey.generate("accessbot.test/audit")
    key_file = tmp_path / "audit.key"
    key_file.write_text(key.text())
    key_file.chmod(0o600)
    stack = await make_stack(AUDITED_POLICY, settings_overrides={
        "accessbot_reconcile_interval": timedelta(0), "accessbot_audit_key_file": str(key_file),
        "accessbot_audit_checkpoint_dir": str(tmp_path / "cps"),
        "accessbot_audit_checkpoint_interval": timedelta(seconds=0.3)})
    stack.extra["public"] = key.public.text()
    await wait_until(lambda: (tmp_path / "cps" / "latest.checkpoint").exists(), what="the checkpoint at start")

    await slash(stack, ALICE, "request prod-db 1h incident 4211")
    await settle(stack)
    rows = await audit(stack)
    assert rows

    async def covered() -> bool:
        return any(cp.size == len(rows) for cp in await stored(stack))

    await wait_until(covered, timeout=10, what="a checkpoint covering the new events")
    cps = await stored(stack)
    assert cps[0].size == 0 and cps[-1].head == rows[-1]["hash"]
    assert ckpt.findings(len(rows), {r["seq"]: r["hash"] for r in rows}.__getitem__, cps, [],
                         "0" * 64) == []
    lines = [m["text"] for m in stack.slack.messages(AUDIT_CHANNEL)]
    assert len(lines) == len(rows)
    for row, line in zip(rows, lines, strict=True):
        assert line.endswith(f" · head {row['hash'][:12]}…"), line
