"""The built wheel is complete: migrations, simulator schema and every module, and it migrates from any folder."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "wheelhouse", "*.egg-info", "__pycache__", "*.db*")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel offline from a copy of the checkout (the checkout itself is left untouched)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(tmp / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (built,) = (tmp / "dist").glob("accessbot-*.whl")
    return built


def _repo_files(pattern: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "bot").rglob(pattern) if "__pycache__" not in p.parts}


def test_wheel_holds_every_module_the_migrations_and_the_simulator_schema(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = _repo_files("*.py")
    assert "bot/migrations/versions/0001_initial.py" in modules  # the repository layout this test relies on
    assert modules - names == set(), "modules missing from the wheel"
    assert {"bot/migrations/env.py", "bot/migrations/script.py.mako",
            "bot/simulators/cloudflare_openapi_subset.json"} <= names
    assert _repo_files("*.json") | _repo_files("*.mako") <= names


def test_installed_wheel_migrates_a_database_from_an_empty_folder_outside_the_checkout(
        wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCESSBOT_", "DATABASE_URL", "PYTHON"))}
    env |= {"PYTHONPATH": str(site), "DATABASE_URL": f"sqlite+aiosqlite:///{empty / 'fresh.db'}"}
    where = subprocess.run([sys.executable, "-c", "import bot; print(bot.__file__)"], cwd=empty, env=env,
                           capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout + where.stderr
    upgraded = subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], cwd=empty, env=env,
                              capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip().endswith("(head)")
    with sqlite3.connect(empty / "fresh.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"alembic_version", "grants", "audit_log", "effects"} <= tables


def test_compose_example_runs_two_replicas_of_the_image_on_postgresql_with_the_policy_read_only() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    bots = {name: s for name, s in services.items() if s.get("build") == "."}
    assert len(bots) == 2 and len({s["image"] for s in bots.values()}) == 1
    db = services["db"]
    assert db["image"].startswith("postgres") and "pg_isready" in " ".join(db["healthcheck"]["test"])
    for bot in bots.values():
        assert bot["env_file"] == ".env"
        assert bot["environment"]["DATABASE_URL"].startswith("postgresql") and "@db:5432/" in bot["environment"][
            "DATABASE_URL"]
        policy = bot["environment"]["ACCESSBOT_POLICY"]
        assert f"./policy.yml:{policy}:ro" in bot["volumes"]
        assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert len({b["ports"][0].split(":")[0] for b in bots.values()}) == 2


def test_dockerfile_runs_as_a_non_root_user_with_a_healthcheck_on_a_slim_python_base_by_default() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert "ARG BASE_IMAGE=python:3.12-slim" in lines
    assert sum(line.startswith("FROM ${BASE_IMAGE}") for line in lines) == 2  # builder and runtime stages
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    healthcheck = " ".join(lines[lines.index(next(x for x in lines if x.startswith("HEALTHCHECK"))):][:2])
    assert "/healthz" in healthcheck and "urllib" in healthcheck
    assert 'ENTRYPOINT ["accessbot"]' in lines and 'CMD ["serve"]' in lines
