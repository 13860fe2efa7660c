"""Group commit of accepted payments and their idempotency keys.

Writing one row per request in its own transaction would cap ingest at the
database's commit rate and block the event loop. Instead the request handlers
hand their rows to one writer thread, which takes everything queued (up to
``max_batch``), writes it in ONE transaction and wakes the handlers. A request
is answered only after its rows are committed, so a 202 is durable.

Idempotency: each ``Idempotency-Key`` (scoped by the caller's API-key name) is
inserted with ``ON CONFLICT DO NOTHING`` and read back. The entry whose
payment id is stored won: its payment is new and gets published. Any other
entry with the same key and the same request hash is a replay (same payment
id, not published again); with a different hash it is a conflict (409). This
holds across batches, threads and API processes, because the database decides.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete

from fraudstream.api.ledger_sqlite import (
    KEYS,
    PAYMENTS,
    LedgerDb,
    SqlAlchemyLedgerDb,
    SqliteLedgerDb,
    WalCheckpointer,
)
from fraudstream.errors import ConflictError, FraudstreamError, StoreError
from fraudstream.store.db import store_errors
from fraudstream.store.models import utcnow

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Entry:
    """One payment waiting to be recorded."""

    payment: dict[str, Any]
    idempotency_key: str | None
    request_hash: str
    # Filled in by the writer:
    payment_id: str = ""
    created: bool = False
    error: FraudstreamError | None = None
    future: asyncio.Future[None] | None = field(default=None, repr=False)


class IngestLedger:
    """The writer thread behind ``POST /api/v1/payments``.

    Example:
        >>> import asyncio
        >>> from fraudstream.settings import DatabaseSettings
        >>> from fraudstream.store.db import make_engine
        >>> from fraudstream.store.migrate import upgrade
        >>> engine = make_engine(DatabaseSettings(url="sqlite://")); upgrade(engine)
        >>> ledger = IngestLedger(engine); ledger.start()
        >>> row = {"payment_id": "p1"}  # a real row carries every column of ``payments``
        >>> ledger.stop()
    """

    def __init__(self, engine: Engine, *, max_batch: int = 512, coalesce_ms: float = 0.0) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.coalesce_s = coalesce_ms / 1000.0
        self._queue: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, list[Entry]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        # SQLite: plain DBAPI statements on one connection (see ledger_sqlite).
        self._sqlite = SqliteLedgerDb(engine) if engine.dialect.name == "sqlite" else None
        db = engine.url.database
        on_disk = self._sqlite is not None and db not in (None, "", ":memory:")
        self._checkpointer = WalCheckpointer(engine) if on_disk else None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ingest-ledger", daemon=True)
        self._thread.start()
        if self._checkpointer is not None:
            self._checkpointer.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        if self._sqlite is not None:
            self._sqlite.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()

    async def record(self, entries: list[Entry]) -> None:
        """Record ``entries``; on return each has ``payment_id``, ``created`` or ``error``."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        for e in entries:
            e.future = done
        self._queue.put((loop, entries))
        await done

    # -- the writer thread ---------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            groups = [item]
            size = len(item[1])
            if self.coalesce_s > 0 and size < self.max_batch:
                # A commit costs about the same for 1 row as for 50: wait a moment for
                # the requests arriving right behind this one (bounded added latency).
                time.sleep(self.coalesce_s)
            while size < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                groups.append(nxt)
                size += len(nxt[1])
            entries = [e for _, es in groups for e in es]
            try:
                self.write(entries)
            except FraudstreamError as err:
                for e in entries:
                    e.error = err
            except Exception as exc:  # never leave a request hanging
                logger.exception("ledger: unexpected failure")
                for e in entries:
                    e.error = StoreError(f"ledger failure: {type(exc).__name__}")
            # One wake-up per event loop for the whole batch, not one per request: each
            # call_soon_threadsafe writes to the loop's self-pipe (a syscall and a loop turn).
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for loop, es in groups:
                fut = es[0].future
                if fut is not None:
                    by_loop.setdefault(loop, []).append(fut)
            for loop, futs in by_loop.items():
                loop.call_soon_threadsafe(_resolve, futs)

    def write(self, entries: list[Entry]) -> None:
        """Record ``entries`` in one transaction (the writer thread calls this)."""
        if self._sqlite is not None:
            with self._sqlite.transaction() as db:
                _write(db, entries)
            return
        with store_errors("payment ledger write"), self.engine.begin() as conn:
            _write(SqlAlchemyLedgerDb(conn), entries)

    def forget(self, payment_ids: list[str]) -> None:
        """Undo recorded payments whose publication failed, so a retry publishes them."""
        with store_errors("payment ledger undo"), self.engine.begin() as conn:
            conn.execute(delete(KEYS).where(KEYS.c.payment_id.in_(payment_ids)))
            conn.execute(delete(PAYMENTS).where(PAYMENTS.c.payment_id.in_(payment_ids)))


def _write(db: LedgerDb, entries: list[Entry]) -> None:
    now = utcnow()
    first: dict[str, Entry] = {}
    for e in entries:
        if e.idempotency_key is not None:
            first.setdefault(e.idempotency_key, e)  # first entry per key wins in a batch
    stored: dict[str, tuple[str, str]] = {}
    if first:
        rows = [
            {
                "key": k,
                "request_hash": e.request_hash,
                "payment_id": e.payment["payment_id"],
                "created_at": now,
            }
            for k, e in first.items()
        ]
        won = db.insert_keys(rows)
        stored = {
            k: (e.request_hash, e.payment["payment_id"]) for k, e in first.items() if k in won
        }
        lost = [k for k in first if k not in won]
        if lost:  # keys seen in an earlier batch (replays or conflicts)
            for k, h, p in db.lookup_keys(lost):
                stored[k] = (h, p)
    new_payments = []
    for e in entries:
        pid = e.payment["payment_id"]
        e.payment_id, e.created = pid, True
        if e.idempotency_key is not None:
            h, stored_pid = stored[e.idempotency_key]
            if stored_pid != pid:
                e.created = False
                e.payment_id = stored_pid
                if h != e.request_hash:
                    e.error = ConflictError(
                        "Idempotency-Key was already used with a different request body"
                    )
        if e.created:
            new_payments.append(e.payment)
    if new_payments:
        db.insert_payments(new_payments)


def _resolve(futs: list[asyncio.Future[None]]) -> None:
    for fut in futs:
        if not fut.done():
            fut.set_result(None)
