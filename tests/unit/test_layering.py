"""The layers keep to their imports: the domain only the standard library, the services only the domain."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "bot"
# The one third-party package the domain may use: Ed25519 for signed audit checkpoints (bot.domain.checkpoint),
# a pure function library with no I/O, no framework.
DOMAIN_EXTRA = {"cryptography"}


def _imports(path: Path) -> list[str]:
    """Every module a file imports (absolute names; relative imports resolved against `bot`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-node.level])
                names.append(f"{package}.{node.module}" if node.module else package)
            elif node.module == "bot":  # `from bot import config` imports bot.config
                names.extend(f"bot.{alias.name}" for alias in node.names)
            else:
                names.append(node.module or "")
    return names


def _stdlib(name: str) -> bool:
    """Whether a module is the standard library's."""
    return name.split(".")[0] in sys.stdlib_module_names or name == "__future__"


def _within(name: str, *packages: str) -> bool:
    """Whether a module is one of `packages` or inside one."""
    return any(name == p or name.startswith(p + ".") for p in packages)


def _violations(layer: str, allowed: tuple[str, ...], extra: set[str]) -> list[str]:
    """Every import in bot/<layer> that is neither the standard library, nor in `allowed`, nor an `extra` package."""
    found = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in _imports(path):
            if not (_stdlib(name) or _within(name, *allowed) or name.split(".")[0] in extra):
                found.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    return found


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    assert _violations("domain", ("bot.domain",), DOMAIN_EXTRA) == []


def test_the_services_import_only_the_domain_the_services_and_the_standard_library() -> None:
    assert _violations("services", ("bot.domain", "bot.services"), set()) == []


@pytest.mark.parametrize(("source", "bad"), [
    ("import sqlalchemy\n", "sqlalchemy"),
    ("from bot.storage.store import Tx\n", "bot.storage.store"),
    ("from bot import config\n", "bot.config"),
    ("from ..storage import store\n", "bot.storage"),
    ("def f():\n    import structlog\n", "structlog"),
])
def test_the_check_catches_a_forbidden_import_anywhere_in_a_module(tmp_path: Path, source: str, bad: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake_root = tmp_path / "bot"
    (fake_root / "services").mkdir(parents=True)
    (fake_root / "services" / "x.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    assert _violations("services", ("bot.domain", "bot.services"), set()) == [f"bot/services/x.py imports {bad}"]
