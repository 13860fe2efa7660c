"""Engine and session factory from :class:`~fraudstream.settings.DatabaseSettings`.

SQLite (the embedded default) runs in WAL mode with ``synchronous=NORMAL`` so
the API's readers never block the sink's writer; PostgreSQL goes through
psycopg 3 with ``pool_pre_ping`` so connections broken by a server restart are
replaced instead of failing the next statement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from fraudstream.errors import StoreError
from fraudstream.settings import DatabaseSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


def normalize_url(url: str) -> URL:
    """Parse ``url``, choosing psycopg 3 for bare ``postgresql://`` URLs.

    Example:
        >>> normalize_url("postgresql://u@h/db").drivername
        'postgresql+psycopg'
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(settings: DatabaseSettings) -> Engine:
    """An engine for ``settings.url`` (creates the SQLite file's folder if needed)."""
    url = normalize_url(settings.url)
    kwargs: dict[str, Any] = {"echo": settings.echo_sql, "future": True}
    if url.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            # An in-memory database exists per connection: share one across threads
            # (the API's ledger thread and its request threads must see the same tables).
            kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(
            pool_pre_ping=True,
            pool_size=settings.pool_size,
            connect_args={"connect_timeout": settings.connect_timeout_s},
        )
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (the API returns them)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Turn driver and SQLAlchemy failures into :class:`StoreError` (mapped to 503)."""
    try:
        yield
    except (DBAPIError, SQLAlchemyError) as exc:
        raise StoreError(f"{what} failed: {type(exc).__name__}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def in_transaction(factory: sessionmaker[Session], fn: Callable[[Session], T]) -> T:
    """Run ``fn`` in one session and transaction; commit on success, roll back on error."""
    with store_errors("database transaction"), factory.begin() as session:
        return fn(session)


def ping(engine: Engine) -> None:
    """Raise :class:`StoreError` unless the database answers ``SELECT 1``."""
    with store_errors("database ping"), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
