"""DATABASE_URL's accepted forms, normalised to the async drivers (light: no engine or ORM import)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import ArgumentError

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite", "sqlite+aiosqlite": "sqlite+aiosqlite",
}
_DATABASE_URL_FORMS = "postgresql://USER:PASSWORD@HOST:PORT/DB or sqlite:///PATH"


def normalise_database_url(raw: str) -> str:
    """DATABASE_URL as people write it, for SQLAlchemy's async drivers: `postgresql://`, `postgres://` and
    `postgresql+asyncpg://` become `postgresql+asyncpg://` (a libpq `sslmode` becomes asyncpg's `ssl`);
    `sqlite:///PATH` and `sqlite+aiosqlite:///PATH` become `sqlite+aiosqlite:///PATH`; query strings are
    kept. Anything else is a ValueError whose message never contains the URL (it may hold a password)."""
    text = raw.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise ValueError(f"not a database URL (use {_DATABASE_URL_FORMS})")
    driver = _ASYNC_DRIVERS.get(scheme.lower())
    if driver is None:
        safe = scheme.lower() if len(scheme) <= 40 else scheme[:40].lower() + "…"
        raise ValueError(f"{safe}:// is not supported (use {_DATABASE_URL_FORMS})")
    if driver.startswith("sqlite") and (not rest.startswith("/") or rest in ("/", "")):
        raise ValueError("a SQLite URL is sqlite:///PATH (three slashes, then the file's path)")
    try:
        url = make_url(f"{driver}://{rest}")
    except (ArgumentError, ValueError):
        raise ValueError(f"cannot be read as a database URL (use {_DATABASE_URL_FORMS})") from None
    if driver.startswith("postgresql") and "sslmode" in url.query:
        query = dict(url.query)
        sslmode = query.pop("sslmode")
        query.setdefault("ssl", sslmode)
        return url.set(query=query).render_as_string(hide_password=False)
    return f"{driver}://{rest}"


def is_sqlite(url: str) -> bool:
    """True for a SQLite URL."""
    return url.startswith("sqlite")


def sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite URL's database file (None for PostgreSQL and in-memory databases)."""
    url = normalise_database_url(url)
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()
