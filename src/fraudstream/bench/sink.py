"""Sink benchmark and database-outage drill.

``fraudstream bench sink`` writes N scored transactions (every 20th also an
alert) to the scores/alerts topics, then runs the sink into the database and
reports records/s. With ``--outage-s`` the records are produced at ``--rate``
while the sink runs, the database is stopped with ``--stop-cmd`` after
``--outage-at-s`` seconds and started again with ``--start-cmd`` after the
outage; at the end every transaction id of the run is counted in the table
(exactly once is the pass condition).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from fraudstream.bus import open_bus
from fraudstream.bus.base import Bus
from fraudstream.events.contracts import ALERT, SCORED_TRANSACTION
from fraudstream.events.registry import SchemaRegistry, open_registry
from fraudstream.pipeline.wiring import register_all, serde_for
from fraudstream.settings import Settings, TopicSettings
from fraudstream.store.models import Alert, Score

logger = logging.getLogger(__name__)

ALERT_EVERY = 20


def scored_record(run: str, i: int, now_ms: int) -> dict[str, Any]:
    """The i-th scored transaction of a run (deterministic apart from ``now_ms``)."""
    score = (i * 7919 % 1000) / 1000.0
    flagged = i % ALERT_EVERY == 0
    return {
        "transaction_id": f"{run}-{i:08d}",
        "event_time": now_ms,
        "card_id": f"card-{i % 5000}",
        "account_id": f"acct-{i % 5000}",
        "customer_id": f"cust-{i % 4000}",
        "merchant_id": f"m-{i % 300}",
        "merchant_category": "grocery",
        "merchant_country": "FR",
        "customer_country": "FR",
        "amount": round(5 + (i % 500) * 1.37, 2),
        "currency": "EUR",
        "channel": "ECOM",
        "tx_type": "PURCHASE",
        "device_id": None,
        "ip_address": None,
        "counterparty_account_id": None,
        "card_last4": None,
        "is_fraud": None,
        "fraud_scenario": None,
        "fraud_score": 0.95 if flagged else score * 0.5,
        "risk_level": "CRITICAL" if flagged else "LOW",
        "action": "BLOCK" if flagged else "ALLOW",
        "reasons": ["amount_zscore", "velocity_card_1h"] if flagged else [],
        "model_version": "bench-1",
        "scored_at": now_ms,
        "latency_ms": 1.5,
        "model_scores": None,
        "features": {"amount": 12.5, "velocity_card_1h": float(i % 7)},
    }


def alert_of(rec: dict[str, Any]) -> dict[str, Any]:
    """The alert record the pipeline emits for a flagged scored record."""
    return {
        "transaction_id": rec["transaction_id"],
        "card_id": rec["card_id"],
        "amount": rec["amount"],
        "currency": rec["currency"],
        "merchant_id": rec["merchant_id"],
        "fraud_score": rec["fraud_score"],
        "risk_level": rec["risk_level"],
        "action": rec["action"],
        "reasons": rec["reasons"],
        "model_version": rec["model_version"],
        "created_at": rec["scored_at"],
        "event_time": rec["event_time"],
    }


class ScoredFeed:
    """Produces scored records (and their alerts) as the pipeline would, in Avro."""

    def __init__(self, bus: Bus, topics: TopicSettings, registry: SchemaRegistry) -> None:
        register_all(registry, topics)
        self.topics = topics
        self.producer = bus.producer()
        self._scored = serde_for(SCORED_TRANSACTION, topics.scores, registry)
        self._alert = serde_for(ALERT, topics.alerts, registry)

    def produce(self, run: str, start: int, n: int) -> int:
        """Produce records ``start .. start+n-1``; returns how many alerts went out."""
        now_ms = int(time.time() * 1000)
        alerts = 0
        for i in range(start, start + n):
            rec = scored_record(run, i, now_ms)
            key = rec["card_id"].encode()
            self.producer.produce(self.topics.scores, self._scored.encode(rec), key=key)
            if i % ALERT_EVERY == 0:
                self.producer.produce(
                    self.topics.alerts, self._alert.encode(alert_of(rec)), key=key
                )
                alerts += 1
        self.producer.flush(60.0)
        return alerts


def count_run(engine: Engine, run: str) -> tuple[int, int]:
    """(scores, alerts) rows whose transaction id belongs to ``run``."""
    like = f"{run}-%"
    with engine.connect() as conn:
        scores = conn.execute(
            select(func.count()).select_from(Score).where(Score.transaction_id.like(like))
        ).scalar_one()
        alerts = conn.execute(
            select(func.count()).select_from(Alert).where(Alert.transaction_id.like(like))
        ).scalar_one()
    return int(scores), int(alerts)


@dataclass
class Outage:
    """Stop the database at ``at_s`` for ``duration_s`` (``stop``/``start`` do the work)."""

    at_s: float
    duration_s: float
    stop: Callable[[], None]
    start: Callable[[], None]

    @classmethod
    def from_shell(cls, at_s: float, duration_s: float, stop_cmd: str, start_cmd: str) -> Outage:
        """An outage driven by two shell commands (e.g. ``pg_ctl ... stop -m fast``)."""

        def sh(cmd: str) -> Callable[[], None]:
            def run() -> None:
                subprocess.run(cmd, shell=True, check=True)

            return run

        return cls(at_s, duration_s, sh(stop_cmd), sh(start_cmd))

    def run(self, log: list[str]) -> None:
        time.sleep(self.at_s)
        log.append(f"{time.strftime('%H:%M:%S')} stopping the database")
        self.stop()
        log.append(f"{time.strftime('%H:%M:%S')} database stopped")
        time.sleep(self.duration_s)
        log.append(f"{time.strftime('%H:%M:%S')} starting the database")
        self.start()
        log.append(f"{time.strftime('%H:%M:%S')} database started")


def run_sink_bench(
    settings: Settings,
    records: int,
    *,
    bus: Bus | None = None,
    rate: float = 0.0,
    outage: Outage | None = None,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Produce ``records`` scored records and sink them; returns the figures."""
    from fraudstream.store.commands import build_sink
    from fraudstream.store.migrate import upgrade

    run = "bench-" + uuid.uuid4().hex[:8]
    settings = settings.model_copy(deep=True)
    settings.database.sink_group_id = f"sink-{run}"
    # Topics of this run only: the sink must not first drain earlier runs' records.
    names = settings.topics
    names.scores, names.alerts, names.feedback = (
        f"{names.scores}-{run}",
        f"{names.alerts}-{run}",
        f"{names.feedback}-{run}",
    )
    if bus is None:
        bus = open_bus(settings)
    bus.create_topics(settings.topics.partition_counts())
    sink, the_bus = build_sink(settings, bus)
    upgrade(sink.engine)
    feed = ScoredFeed(the_bus, settings.topics, open_registry(settings.kafka))
    expected_alerts = len(range(0, records, ALERT_EVERY))
    events: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        chunk = 1000 if rate <= 0 else max(1, int(rate / 10))
        t0 = time.perf_counter()
        for start in range(0, records, chunk):
            feed.produce(run, start, min(chunk, records - start))
            if rate > 0:
                ahead = (start + chunk) / rate - (time.perf_counter() - t0)
                if ahead > 0:
                    time.sleep(ahead)

    if rate <= 0:
        produce()  # preload: the sink's throughput alone is measured
    producer = threading.Thread(target=produce, daemon=True) if rate > 0 else None
    chaos = threading.Thread(target=outage.run, args=(events,), daemon=True) if outage else None
    worker = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    worker.start()
    for t in (producer, chaos):
        if t is not None:
            t.start()
    deadline = t0 + timeout_s
    scores = alerts = 0
    t_first, rows_first = t0, 0
    while sink.stats.batches == 0 and time.perf_counter() < deadline:
        time.sleep(0.005)  # the consumer group's first join is not the sink's throughput
    if outage is None:
        t_first, rows_first = time.perf_counter(), sink.stats.records
    target = records + expected_alerts
    while time.perf_counter() < deadline:
        # Watch the sink's own counter: counting rows in the database while it
        # writes would load the database and distort the figure.
        time.sleep(0.01)
        if chaos is not None and chaos.is_alive():
            continue
        if sink.stats.records >= target:
            break
    elapsed = time.perf_counter() - t0
    cpu_s = time.process_time() - cpu0
    stop.set()
    worker.join(30)
    sink.consumer.close()
    scores, alerts = count_run(sink.engine, run)
    sink.engine.dispose()
    return {
        "run": run,
        "records": records,
        "database": sink.engine.url.get_backend_name(),
        "bus": settings.bus,
        "seconds": round(elapsed, 2),
        # Rows per second after the consumer's first fetch, scaled to scored records.
        "scored_per_s": round(
            (sink.stats.records - rows_first)
            * records
            / target
            / max(elapsed - (t_first - t0), 1e-9)
        ),
        # CPU of this process while sinking (1e6 / this = records/s one free core sustains).
        "sink_cpu_us_per_record": round(cpu_s * 1e6 / records),
        "load_average_1m": os.getloadavg()[0],
        "scores_rows": scores,
        "alerts_rows": alerts,
        "expected_alerts": expected_alerts,
        "exactly_once": scores == records and alerts == expected_alerts,
        "db_retries": sink.stats.db_retries,
        "batches": sink.stats.batches,
        "outage": None if outage is None else {"at_s": outage.at_s, "seconds": outage.duration_s},
        "events": events,
    }


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
