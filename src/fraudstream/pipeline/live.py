"""``fraudstream run``: generator -> exactly-once scoring -> SQLite sink, in one process.

Everything runs on one in-process :class:`~fraudstream.bus.memory.MemoryBus` with
the embedded defaults (no broker, SQLite), each stage in its own thread, with a
live terminal view (throughput, alerts, dead letters, latency, running
precision/recall against the generator's ground truth) and a summary at the end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import typer

from fraudstream.bus.base import Bus
from fraudstream.bus.memory import MemoryBus
from fraudstream.settings import Settings

logger = logging.getLogger(__name__)

PLACEHOLDER_LABEL = (
    "PLACEHOLDER scorer: the seed tutorial's amount rule (amount >= 900) + card velocity"
)


@dataclass
class LiveStats:
    """Running figures of a ``run``, read by the view (GIL-atomic updates)."""

    generated: int = 0
    scored: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    dead: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    def latency(self, q: float) -> float:
        lat = self.latencies_ms[-20_000:]
        return float(np.percentile(lat, q)) if lat else 0.0


def _generate(bus: Bus, s: Settings, rate: int, stop: threading.Event, st: LiveStats) -> None:
    from fraudstream.events.registry import InProcessRegistry
    from fraudstream.generate.transactions import TransactionGenerator
    from fraudstream.pipeline.wiring import register_all, serde_for

    reg = InProcessRegistry()
    register_all(reg, s.topics)
    enc = serde_for("transaction", s.topics.transactions, reg)
    producer = bus.producer()
    tick = 0.05
    per_tick = max(1, int(rate * tick))
    gen = TransactionGenerator(s.generator)
    t0 = time.monotonic()
    for batch in gen.batches(count=10**12, batch_size=per_tick):
        if stop.is_set():
            break
        for rec, value in zip(batch, enc.encode_many(batch), strict=True):
            producer.produce(s.topics.transactions, value, key=rec["card_id"].encode())
        st.generated += len(batch)
        ahead = t0 + st.generated / rate - time.monotonic()
        if ahead > 0:
            stop.wait(ahead)


def _monitor(bus: Bus, s: Settings, stop: threading.Event, st: LiveStats) -> None:
    """Read what a downstream read_committed consumer sees, for the live figures."""
    from fraudstream.events.registry import InProcessRegistry
    from fraudstream.pipeline.wiring import register_all, serde_for

    reg = InProcessRegistry()
    register_all(reg, s.topics)
    scored = serde_for("scored_transaction", s.topics.scores, reg)
    alert = serde_for("alert", s.topics.alerts, reg)
    consumer = bus.consumer("fraudstream-run-monitor", read_committed=True)
    t = s.topics
    consumer.subscribe([t.scores, t.alerts, t.dead_letter])
    while not stop.is_set():
        now_ms = time.time() * 1000
        for m in consumer.poll_batch(2000, 0.1):
            if m.topic == t.scores:
                rec = scored.decode(m.value)
                st.scored += 1
                flagged, fraud = rec["action"] != "ALLOW", bool(rec.get("is_fraud"))
                st.tp += flagged and fraud
                st.fp += flagged and not fraud
                st.fn += fraud and not flagged
                st.latencies_ms.append(now_ms - m.timestamp_ms)
            elif m.topic == t.alerts:
                st.alerts[alert.decode(m.value)["action"]] += 1
            else:
                st.dead += 1
        if len(st.latencies_ms) > 100_000:
            del st.latencies_ms[:50_000]
    consumer.close()


def _table(st: LiveStats, scorer: str, sink_rows: int | None) -> Any:
    from rich.table import Table

    el = max(time.monotonic() - st.started, 1e-9)
    table = Table(title=f"fraudstream run  ({scorer})", show_header=False)
    rows = [
        ("elapsed", f"{el:6.1f} s"),
        ("generated", f"{st.generated:,}  ({st.generated / el:,.0f}/s)"),
        ("scored (committed)", f"{st.scored:,}  ({st.scored / el:,.0f}/s)"),
        ("alerts", f"{sum(st.alerts.values()):,}  BLOCK={st.alerts['BLOCK']:,} "
                   f"REVIEW={st.alerts['REVIEW']:,}"),
        ("dead letters", f"{st.dead:,}"),
        ("latency produce->visible", f"p50 {st.latency(50):.1f} ms  p99 {st.latency(99):.1f} ms"),
        ("precision / recall", f"{st.precision:.3f} / {st.recall:.3f}  (vs ground truth)"),
        ("rows in the database", "-" if sink_rows is None else f"{sink_rows:,}"),
    ]  # fmt: skip
    for k, v in rows:
        table.add_row(k, v)
    return table


def run(
    duration: Annotated[float, typer.Option(help="Seconds of generated traffic.")] = 20.0,
    rate: Annotated[int, typer.Option(help="Transactions per second to generate.")] = 2000,
    sink: Annotated[bool, typer.Option(help="Store scores and alerts (SQLite default).")] = True,
) -> None:
    """Run generator -> exactly-once scoring -> sink in one process on the in-process bus."""
    from rich.console import Console
    from rich.live import Live

    from fraudstream.pipeline.service import ensure_topics, load_detector, run_worker

    s = Settings()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    bus = MemoryBus(retention_records=500_000)
    ensure_topics(bus, s)
    detector = load_detector(s)
    scorer = PLACEHOLDER_LABEL if s.pipeline.detector == "amount-rule" else detector.version
    st = LiveStats()
    stop_gen, stop_all = threading.Event(), threading.Event()
    sink_obj = _open_sink(s, bus) if sink else None
    threads = [
        threading.Thread(target=_generate, args=(bus, s, rate, stop_gen, st), daemon=True),
        threading.Thread(target=run_worker, args=(bus, s, stop_all), kwargs={"detector": detector,
                         "create_topics": False}, daemon=True),
        threading.Thread(target=_monitor, args=(bus, s, stop_all, st), daemon=True),
    ]  # fmt: skip
    if sink_obj is not None:
        threads.append(threading.Thread(target=sink_obj.run, args=(stop_all,), daemon=True))
    for t in threads:
        t.start()
    console = Console()
    rows = (lambda: sink_obj.stats.records) if sink_obj is not None else (lambda: None)
    with Live(_table(st, scorer, rows()), console=console, refresh_per_second=4) as live:
        end = time.monotonic() + duration
        while time.monotonic() < end:
            time.sleep(0.25)
            live.update(_table(st, scorer, rows()))
        stop_gen.set()
        drain = time.monotonic() + 15
        while time.monotonic() < drain and (
            st.scored + st.dead < st.generated
            or (sink_obj is not None and (rows() or 0) < st.scored + sum(st.alerts.values()))
        ):
            time.sleep(0.1)
            live.update(_table(st, scorer, rows()))
        stop_all.set()
        for t in threads:
            t.join(timeout=10)
        live.update(_table(st, scorer, rows()))
    _summary(console, st, scorer, s, sink_obj is not None, rows())


def _open_sink(s: Settings, bus: MemoryBus) -> Any:
    from fraudstream.store.commands import build_sink
    from fraudstream.store.migrate import upgrade

    url = s.database.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    sink, _ = build_sink(s, bus)
    upgrade(sink.engine)
    return sink


def _summary(
    console: Any, st: LiveStats, scorer: str, s: Settings, sink: bool, rows: int | None
) -> None:
    el = time.monotonic() - st.started
    console.print(
        f"\n[bold]summary[/bold] ({scorer})\n"
        f"  generated {st.generated:,}, scored {st.scored:,} exactly once "
        f"({st.scored / el:,.0f}/s over {el:.1f} s), dead letters {st.dead:,}\n"
        f"  alerts {sum(st.alerts.values()):,} (BLOCK {st.alerts['BLOCK']:,}, "
        f"REVIEW {st.alerts['REVIEW']:,}); precision {st.precision:.3f}, recall {st.recall:.3f}\n"
        f"  latency produce->visible p50 {st.latency(50):.1f} ms, p99 {st.latency(99):.1f} ms\n"
        + (f"  stored {rows:,} rows in {s.database.url}" if sink else "  sink off")
    )
