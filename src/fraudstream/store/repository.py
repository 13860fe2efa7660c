"""Bulk, idempotent writes of the stream's records (one statement per table per batch).

Every write is an ``INSERT ... ON CONFLICT`` keyed by ``transaction_id`` (by
``(transaction_id, analyst)`` for feedback), in the dialect's own syntax for
PostgreSQL and SQLite, so replaying a batch after a crash or a database outage
leaves exactly one row per transaction. Rows repeated inside one batch are
collapsed first (the last wins), because PostgreSQL refuses to touch one row
twice in one statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Engine, Table, update
from sqlalchemy.dialects import postgresql, sqlite

from fraudstream.store.db import store_errors
from fraudstream.store.models import Alert, Case, Feedback, ModelVersion, Payment, Score, utcnow

Row = dict[str, Any]

_SCORES: Table = Score.__table__  # type: ignore[assignment]
_ALERTS: Table = Alert.__table__  # type: ignore[assignment]
_CASES: Table = Case.__table__  # type: ignore[assignment]
_FEEDBACK: Table = Feedback.__table__  # type: ignore[assignment]
_MODELS: Table = ModelVersion.__table__  # type: ignore[assignment]
_PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]


@dataclass(slots=True)
class SinkBatch:
    """Rows decoded from one poll of the sink, grouped by table.

    Example:
        >>> b = SinkBatch(scores=[{"transaction_id": "t1"}])
        >>> len(b), b.empty
        (1, False)
    """

    scores: list[Row] = field(default_factory=list)
    alerts: list[Row] = field(default_factory=list)
    feedback: list[Row] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.scores) + len(self.alerts) + len(self.feedback)

    @property
    def empty(self) -> bool:
        return len(self) == 0


def dedupe(rows: Iterable[Row], key: Sequence[str]) -> list[Row]:
    """Keep the last row per ``key`` (order of first appearance).

    Example:
        >>> dedupe([{"id": 1, "v": "a"}, {"id": 1, "v": "b"}], ["id"])
        [{'id': 1, 'v': 'b'}]
    """
    out: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        out[tuple(row[k] for k in key)] = row
    return list(out.values())


def _insert(conn: Connection, table: Table) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are implemented for postgresql and sqlite, not {name}")


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Row],
    key: Sequence[str],
    *,
    update_columns: Iterable[str] | None = None,
) -> int:
    """Insert ``rows`` into ``table``; on a ``key`` conflict update ``update_columns``
    (every non-key column by default, none when given an empty list).

    Returns the number of distinct keys written.
    """
    rows = dedupe(rows, key)
    if not rows:
        return 0
    cols = list(rows[0].keys())
    updates = [c for c in (cols if update_columns is None else update_columns) if c not in key]
    if conn.dialect.name == "postgresql":
        return _pg_upsert(conn, table, rows, cols, key, updates)
    stmt = _insert(conn, table)
    if updates:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key), set_={c: stmt.excluded[c] for c in updates}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(stmt, rows)
    return len(rows)


def _pg_upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Row],
    cols: list[str],
    key: Sequence[str],
    updates: list[str],
    *,
    returning: bool = False,
) -> Any:
    """PostgreSQL: ONE ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT`` per batch.

    One array parameter per column instead of one parameter set per row: the
    client sends a handful of binary arrays and the server plans one statement,
    several times faster than executemany for thousands of rows.
    """
    dialect = conn.dialect
    q = dialect.identifier_preparer.quote
    casts, params = [], {}
    for i, c in enumerate(cols):
        col = table.c[c]
        values = [r[c] for r in rows]
        if isinstance(col.type, JSON):
            values = [None if v is None else orjson.dumps(v).decode() for v in values]
        params[f"p{i}"] = values
        # %(..)b: binary parameters, so psycopg dumps each array in C, not as text.
        casts.append(f"%(p{i})b::{col.type.compile(dialect=dialect)}[]")
    conflict = ", ".join(q(k) for k in key)
    action = (
        "DO UPDATE SET " + ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in updates)
        if updates
        else "DO NOTHING"
    )
    # Identifiers come from the table metadata (quoted); every value is a bound parameter.
    sql = (
        f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in cols)}) "  # noqa: S608
        f"SELECT * FROM unnest({', '.join(casts)}) "
        f"ON CONFLICT ({conflict}) {action}"
    )
    if returning:
        sql += f" RETURNING {q(key[0])}"
        return {r[0] for r in conn.exec_driver_sql(sql, params)}
    conn.exec_driver_sql(sql, params)
    return len(rows)


_SQLITE_BINDS: dict[str, list[Any]] = {}


def insert_new(conn: Connection, table: Table, rows: Sequence[Row], key: Sequence[str]) -> set[Any]:
    """Insert ``rows`` (all with the same columns), skipping existing keys; return the
    first key column of the rows actually inserted.

    The ingest ledger's hot path: one statement, no per-row SQLAlchemy work.
    PostgreSQL uses ``unnest`` of binary arrays; SQLite a multi-row ``VALUES``
    with values converted by SQLAlchemy's own bind processors (so they read back
    exactly as ORM-written ones do).
    """
    if not rows:
        return set()
    cols = list(rows[0].keys())
    if conn.dialect.name == "postgresql":
        inserted: set[Any] = _pg_upsert(conn, table, rows, cols, key, [], returning=True)
        return inserted
    if conn.dialect.name != "sqlite":
        raise NotImplementedError(
            f"insert_new supports postgresql and sqlite, not {conn.dialect.name}"
        )
    cache_key = f"{table.name}:{','.join(cols)}"
    procs = _SQLITE_BINDS.get(cache_key)
    if procs is None:
        procs = _SQLITE_BINDS[cache_key] = [
            table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in cols
        ]
    flat: list[Any] = []
    for r in rows:
        for c, proc in zip(cols, procs, strict=True):
            v = r[c]
            flat.append(proc(v) if proc is not None and v is not None else v)
    q = conn.dialect.identifier_preparer.quote
    one = "(" + ",".join("?" * len(cols)) + ")"
    sql = (
        f"INSERT INTO {q(table.name)} ({', '.join(q(c) for c in cols)}) "  # noqa: S608
        f"VALUES {','.join([one] * len(rows))} "
        f"ON CONFLICT ({', '.join(q(k) for k in key)}) DO NOTHING RETURNING {q(key[0])}"
    )
    return {r[0] for r in conn.exec_driver_sql(sql, tuple(flat))}


def write_sink_batch(conn: Connection, batch: SinkBatch) -> None:
    """Write one sink batch inside the caller's transaction.

    Scores are upserted and their payments marked SCORED; alerts are upserted and
    open a case unless one exists; feedback upserts per (transaction, analyst);
    every model version seen is recorded.
    """
    if batch.scores:
        upsert(conn, _SCORES, batch.scores, ["transaction_id"])
        ids = sorted({r["transaction_id"] for r in batch.scores})
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "UPDATE payments SET status = 'SCORED' "
                "WHERE transaction_id = ANY(%(ids)b::varchar[]) AND status <> 'SCORED'",
                {"ids": ids},
            )
        else:
            conn.execute(
                update(_PAYMENTS)
                .where(_PAYMENTS.c.transaction_id.in_(ids), _PAYMENTS.c.status != "SCORED")
                .values(status="SCORED")
            )
        versions = sorted({r["model_version"] for r in batch.scores})
        upsert(
            conn,
            _MODELS,
            [
                {"version": v, "kind": "ensemble", "active": False, "created_at": utcnow()}
                for v in versions
            ],
            ["version"],
            update_columns=[],
        )
    if batch.alerts:
        upsert(conn, _ALERTS, batch.alerts, ["transaction_id"])
        now = utcnow()
        cases = [
            {
                "transaction_id": r["transaction_id"],
                "status": "OPEN",
                "created_at": now,
                "updated_at": now,
            }
            for r in batch.alerts
        ]
        upsert(conn, _CASES, cases, ["transaction_id"], update_columns=[])
    if batch.feedback:
        upsert(conn, _FEEDBACK, batch.feedback, ["transaction_id", "analyst"])


def write_batch(engine: Engine, batch: SinkBatch) -> None:
    """Write ``batch`` in one database transaction; :class:`StoreError` if it fails."""
    if batch.empty:
        return
    with store_errors("sink batch write"), engine.begin() as conn:
        write_sink_batch(conn, batch)


def count_rows(engine: Engine, tables: Mapping[str, Table] | None = None) -> dict[str, int]:
    """Row counts per table (diagnostics and tests)."""
    from sqlalchemy import func, select

    tables = tables or {
        "scores": _SCORES,
        "alerts": _ALERTS,
        "feedback": _FEEDBACK,
        "cases": _CASES,
        "payments": _PAYMENTS,
    }
    with store_errors("row count"), engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for name, t in tables.items()
        }
