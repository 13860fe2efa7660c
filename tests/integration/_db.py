"""Database fixtures shared by the services' integration tests.

``db_url`` is parametrized over the embedded SQLite and a real PostgreSQL (the
session ``pg_url`` fixture from ``tests/conftest.py``); each test gets a fresh,
migrated database of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from fraudstream.settings import DatabaseSettings
from fraudstream.store.db import make_engine, normalize_url
from fraudstream.store.migrate import upgrade


def fresh_pg_database(pg_url: str) -> Iterator[str]:
    """CREATE a new database on the server of ``pg_url``; DROP it afterwards."""
    admin_url = normalize_url(pg_url)
    name = f"fs_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(name="db_url", params=["sqlite", "postgresql"])
def db_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fraudstream.db'}"
    else:
        yield from fresh_pg_database(request.getfixturevalue("pg_url"))


@pytest.fixture(name="engine")
def engine_fixture(db_url: str) -> Iterator[Engine]:
    """A migrated engine over ``db_url``."""
    eng = make_engine(DatabaseSettings(url=db_url))
    upgrade(eng)
    yield eng
    eng.dispose()
