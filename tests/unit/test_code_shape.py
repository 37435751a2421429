"""The code's shape: no module too long to read, no function too long or too branchy to follow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Generated schema steps: one long `upgrade()` listing tables is easier to check against tables.py than pieces.
EXEMPT = {"migrations/versions"}


def _modules() -> list[Path]:
    """Every Python module of the package, except the exempt folders."""
    return [p for p in sorted(BOT.rglob("*.py"))
            if not any(part in p.relative_to(BOT).as_posix() for part in EXEMPT)]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(BOT).as_posix())
def test_no_module_is_longer_than_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(BOT)} has {lines} lines"


def test_no_function_is_longer_than_60_lines() -> None:
    too_long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(BOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not too_long, "\n".join(too_long)
