"""The payment ledger's SQLite fast path against its SQLAlchemy twin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from fraudstream.api.ledger import Entry, IngestLedger
from fraudstream.api.ledger_sqlite import SqliteLedgerDb
from fraudstream.errors import ConflictError, StoreError
from fraudstream.settings import DatabaseSettings
from fraudstream.store.db import make_engine, make_session_factory
from fraudstream.store.migrate import upgrade
from fraudstream.store.models import Payment

WHEN = datetime(2026, 11, 22, 13, 0, 1, 250_000, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = make_engine(DatabaseSettings(url=f"sqlite:///{tmp_path / 'ledger.db'}"))
    upgrade(eng)
    return eng


def _row(pid: str, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "payment_id": pid,
        "transaction_id": pid,
        "card_hash": "c" * 64,
        "card_last4": "4242",
        "amount": Decimal("12.30"),
        "currency": "EUR",
        "merchant_id": "m-1",
        "merchant_category": "grocery",
        "merchant_country": "FR",
        "customer_country": "FR",
        "customer_id": "u-1",
        "account_id": "a-1",
        "channel": "ECOM",
        "tx_type": "PURCHASE",
        "device_id": None,
        "ip_address": "10.0.0.1",
        "status": "RECEIVED",
        "event_time": WHEN,
        "created_at": WHEN,
    }
    return row | over


def _entry(pid: str, key: str | None, request_hash: str = "h1") -> Entry:
    return Entry(_row(pid), key, request_hash)


def test_the_fast_path_is_used_on_sqlite_and_stores_what_the_orm_path_stores(
    engine: Engine,
) -> None:
    ledger = IngestLedger(engine)
    assert isinstance(ledger._sqlite, SqliteLedgerDb)
    ledger.write([_entry("p-fast", "bench:k1")])
    ledger._sqlite.close()
    ledger._sqlite = None  # the SQLAlchemy path (PostgreSQL's) on the same database
    ledger.write([_entry("p-orm", "bench:k2")])
    with engine.connect() as conn:
        raw = {
            r[0]: tuple(r[1:])
            for r in conn.execute(
                text("SELECT payment_id, amount, event_time, created_at, device_id FROM payments")
            )
        }
        keys = dict(conn.execute(text("SELECT key, created_at FROM idempotency_keys")).all())
    # Byte-for-byte the same stored values (text timestamps included), whichever path.
    assert raw["p-fast"] == raw["p-orm"]
    assert type(keys["bench:k1"]) is type(keys["bench:k2"])
    assert len(keys["bench:k1"]) == len(keys["bench:k2"])
    with make_session_factory(engine)() as s:
        got = s.get(Payment, "p-fast")
        assert got is not None
        assert got.amount == Decimal("12.30")
        assert got.event_time.replace(tzinfo=UTC) == WHEN
        assert got.card_last4 == "4242" and got.device_id is None


def test_same_key_replays_the_first_payment_and_another_body_conflicts(engine: Engine) -> None:
    ledger = IngestLedger(engine)
    first = _entry("p-1", "shop:k")
    ledger.write([first])
    assert first.created and first.payment_id == "p-1" and first.error is None
    # Later batch: same key + same hash -> replay; same key + other hash -> 409.
    replay, clash, fresh = (
        _entry("p-2", "shop:k"),
        _entry("p-3", "shop:k", "h2"),
        _entry("p-4", None),
    )
    ledger.write([replay, clash, fresh])
    assert (replay.created, replay.payment_id, replay.error) == (False, "p-1", None)
    assert not clash.created and isinstance(clash.error, ConflictError)
    assert fresh.created and fresh.payment_id == "p-4"
    # Inside one batch: the first entry per key wins.
    a, b = _entry("p-5", "shop:z"), _entry("p-6", "shop:z")
    ledger.write([a, b])
    assert a.created and (b.created, b.payment_id) == (False, "p-5")
    with engine.connect() as conn:
        ids = sorted(r[0] for r in conn.execute(text("SELECT payment_id FROM payments")))
    assert ids == ["p-1", "p-4", "p-5"]


def test_a_failed_batch_rolls_back_whole_and_the_ledger_keeps_working(engine: Engine) -> None:
    ledger = IngestLedger(engine)
    ledger.write([_entry("p-1", None)])
    bad = [_entry("p-2", "shop:new"), _entry("p-3", None, "h")]
    bad[1].payment["currency"] = None  # NOT NULL: the payments insert fails after the key's
    with pytest.raises(StoreError, match="payment ledger write failed"):
        ledger.write(bad)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM idempotency_keys")).scalar_one() == 0
    again = _entry("p-2", "shop:new")
    ledger.write([again])  # the key was rolled back with the batch: this one is new
    assert again.created and again.payment_id == "p-2"


def test_an_event_time_with_an_offset_is_stored_as_its_utc_instant(engine: Engine) -> None:
    from fraudstream.api.ingest import prepare
    from fraudstream.api.schemas import PaymentCreate

    local = datetime(2026, 11, 22, 15, 0, tzinfo=timezone(timedelta(hours=2)))
    p = PaymentCreate.model_validate(
        {
            "amount": "5.00",
            "currency": "EUR",
            "merchant_id": "m",
            "merchant_category": "grocery",
            "merchant_country": "FR",
            "customer_country": "FR",
            "customer_id": "u",
            "account_id": "a",
            "channel": "ECOM",
            "card_token": "tok_1",
            "event_time": local.isoformat(),
        }
    )
    prep = prepare(p, card_key=b"k", now=datetime(2026, 11, 22, 14, 0, tzinfo=UTC))
    IngestLedger(engine).write([Entry(prep.row, None, prep.request_hash)])
    with make_session_factory(engine)() as s:
        got = s.get(Payment, prep.row["payment_id"])
        assert got is not None
        assert got.event_time.replace(tzinfo=UTC) == datetime(2026, 11, 22, 13, 0, tzinfo=UTC)


def test_the_fast_datetime_text_is_the_dialects_own() -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.dialects.sqlite import DATETIME

    from fraudstream.api.ledger_sqlite import _sqlite_datetime

    process = DATETIME().bind_processor(create_engine("sqlite://").dialect)
    assert process is not None
    plus5 = timezone(timedelta(hours=5))
    for value in (
        WHEN,
        datetime(2026, 1, 2, 3, 4, 5),  # no microseconds: still six digits
        datetime(987, 6, 5, 4, 3, 2, 1, tzinfo=plus5),  # a three-digit year, an offset
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ):
        assert _sqlite_datetime(value) == process(value)


def test_checkpoints_run_off_the_ledger_thread_and_keep_the_wal_bounded(engine: Engine) -> None:
    from fraudstream.api.ledger_sqlite import LEDGER_WAL_PAGES

    ledger = IngestLedger(engine)
    assert ledger._checkpointer is not None and ledger._sqlite is not None
    for i in range(20):
        ledger.write([_entry(f"p-{i}-{j}", f"k:{i}-{j}") for j in range(8)])
    conn = ledger._sqlite._connect()
    # Its commits do not checkpoint at SQLite's 1,000 pages, only past the bound.
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == LEDGER_WAL_PAGES
    db_file = Path(str(engine.url.database))
    before = db_file.stat().st_size  # the new pages are only in the WAL so far
    ledger._checkpointer.checkpoint()
    assert db_file.stat().st_size > before  # the background checkpoint copied them in
    with engine.connect() as other:
        assert other.execute(text("SELECT count(*) FROM payments")).scalar_one() == 160
