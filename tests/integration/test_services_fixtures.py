"""The session fixtures themselves: a real PostgreSQL that really answers, and can fail."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text

from tests._services import LocalPostgres
from tests.conftest import TopicFactory

pytestmark = pytest.mark.integration


def test_pg_url_is_a_real_postgresql(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://")
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
    engine.dispose()
    assert int(str(version).split(".")[0]) >= 12


def test_pg_control_stops_and_restarts(pg_control: LocalPostgres) -> None:
    dsn = pg_control.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
    pg_control.stop()
    assert not pg_control.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)
    pg_control.start()
    assert pg_control.running
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_unique_topics_are_fresh_and_created(
    memory_bus: object, unique_topics: TopicFactory
) -> None:
    from fraudstream.bus.memory import MemoryBus

    assert isinstance(memory_bus, MemoryBus)
    a = unique_topics(memory_bus, partitions={"transactions": 2})
    b = unique_topics()
    assert a.transactions != b.transactions and a.transactions.startswith("transactions-")
    assert memory_bus.partitions_for(a.transactions) == 2
    assert memory_bus.partitions_for(a.scores) == 6
    with pytest.raises(ValueError, match="unknown topic fields"):
        unique_topics(partitions={"nope": 1})
