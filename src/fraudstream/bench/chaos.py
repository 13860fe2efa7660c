"""Exactly-once under ``kill -9``: the chaos check of the scoring pipeline.

Produce N transactions with unique ids to fresh topics, run ``workers`` real
``fraudstream score`` processes in one consumer group, SIGKILL one at random
moments ``kills`` times (restarting it with the same worker id), wait until the
group has committed the whole input, then check with ``read_committed`` readers:

* ``fraud-scores`` holds every transaction id exactly once (lost = dup = 0);
* ``fraud-alerts`` holds exactly the ids a crash-free run flags, each once;
* the velocity state rebuilt from the changelog equals the crash-free state, and
  every scored record carries the velocity feature the crash-free run computed.

The crash-free reference replays the input topic partition by partition, in
offset order, through the same detector: that is what any correct run computes.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fraudstream.bus.base import TopicPartition
from fraudstream.bus.kafka import KafkaBus
from fraudstream.detect.amount_rule import AmountRuleDetector
from fraudstream.errors import BusError
from fraudstream.events.batch import TransactionBatch
from fraudstream.events.registry import InProcessRegistry
from fraudstream.pipeline.restore import restore_partition
from fraudstream.pipeline.state import PartitionStore, changelog_topic
from fraudstream.pipeline.wiring import register_all, serde_for
from fraudstream.settings import GeneratorSettings, KafkaSettings, Settings, TopicSettings

logger = logging.getLogger(__name__)


@dataclass
class ChaosResult:
    """The outcome of one chaos run (all counts from read_committed readers)."""

    records: int
    workers: int
    kills: int
    scored_unique: int = 0
    lost: int = 0
    duplicated: int = 0
    alerts_expected: int = 0
    alerts_unique: int = 0
    alerts_lost: int = 0
    alerts_duplicated: int = 0
    alerts_unexpected: int = 0
    state_keys: int = 0
    state_mismatches: int = 0
    feature_mismatches: int = 0
    elapsed_s: float = 0.0
    kill_times_s: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.alerts_lost == 0
            and self.alerts_duplicated == 0
            and self.alerts_unexpected == 0
            and self.state_mismatches == 0
            and self.feature_mismatches == 0
            and self.state_keys > 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class _Workers:
    """``fraudstream score`` subprocesses with stable worker ids."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._log_start: dict[str, int] = {}

    def start(self, worker_id: str) -> None:
        path = self.log_dir / f"{worker_id}.log"
        self._log_start[worker_id] = path.stat().st_size if path.exists() else 0
        cmd = [sys.executable, "-m", "fraudstream.cli", "score", "--worker-id", worker_id]
        with path.open("ab") as log:  # the child keeps its own descriptor
            self.procs[worker_id] = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=log)

    def working(self, worker_id: str) -> bool:
        """Whether this incarnation of the worker got partitions (it logs "assigned")."""
        path = self.log_dir / f"{worker_id}.log"
        with path.open("rb") as f:
            f.seek(self._log_start[worker_id])
            return b"assigned" in f.read()

    def kill9(self, worker_id: str) -> None:
        proc = self.procs[worker_id]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_all(self, timeout_s: float = 30.0) -> dict[str, int | None]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for wid, proc in self.procs.items():
            try:
                codes[wid] = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[wid] = None
        return codes


def run_chaos(
    bootstrap: str,
    *,
    records: int = 100_000,
    workers: int = 2,
    kills: int = 5,
    partitions: int = 6,
    seed: int = 7,
    rate: int = 2500,
    timeout_s: float = 600.0,
    log_dir: Path | None = None,
) -> ChaosResult:
    """Run the chaos scenario against the broker at ``bootstrap`` (see module doc)."""
    rng = random.Random(seed)
    sfx = uuid.uuid4().hex[:8]
    topics = _topics(sfx, partitions)
    group = f"chaos-{sfx}"
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap, session_timeout_ms=6000, transaction_timeout_ms=10_000
    )
    settings = Settings(bus="kafka", topics=topics, kafka=kafka)
    settings.pipeline = settings.pipeline.model_copy(update={"group_id": group})
    bus = KafkaBus(kafka)
    from fraudstream.pipeline.service import ensure_topics

    ensure_topics(bus, settings)
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fraudstream-chaos-"))
    pool = _Workers(_env(settings, group), log_dir)
    result = ChaosResult(records=records, workers=workers, kills=kills)
    worker_ids = [f"w{i}" for i in range(workers)]
    for wid in worker_ids:
        pool.start(wid)
    # Live traffic: the input arrives at `rate` while workers are being killed.
    ids: set[str] = set()
    kills_done = threading.Event()
    feeder = threading.Thread(
        target=_produce, args=(bus, topics, records, seed, rate, ids, kills_done), daemon=True
    )
    t0 = time.monotonic()
    feeder.start()
    try:
        while _progress(bus, group, topics.transactions, partitions) == 0:
            if time.monotonic() - t0 > 120:
                raise TimeoutError(f"workers did not start; logs in {log_dir}")
            time.sleep(0.2)
        done_kills = 0
        while done_kills < kills and time.monotonic() - t0 < timeout_s:
            time.sleep(rng.uniform(1.0, 3.0))
            if _progress(bus, group, topics.transactions, partitions) >= records:
                logger.warning(
                    "input fully committed after %d kills; stopping the chaos", done_kills
                )
                break
            # Kill a worker that is really working (joined and assigned), not one
            # still importing: the point is to crash in the middle of transactions.
            ready = [w for w in worker_ids if pool.working(w)]
            if not ready:
                continue
            victim = rng.choice(ready)
            pool.kill9(victim)
            result.kill_times_s.append(round(time.monotonic() - t0, 2))
            done_kills += 1
            logger.info("kill -9 %s (%d/%d)", victim, done_kills, kills)
            time.sleep(rng.uniform(0.0, 1.0))
            pool.start(victim)
        result.kills = done_kills
        kills_done.set()
        feeder.join(timeout_s)
        while _progress(bus, group, topics.transactions, partitions) < records:
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"input not fully committed after {timeout_s}s; logs {log_dir}")
            time.sleep(0.5)
    finally:
        pool.stop_all()
    result.elapsed_s = round(time.monotonic() - t0, 1)
    _verify(bus, topics, group, partitions, ids, result)
    return result


def _topics(sfx: str, partitions: int) -> TopicSettings:
    return TopicSettings(
        transactions=f"chaos-tx-{sfx}",
        scores=f"chaos-scores-{sfx}",
        alerts=f"chaos-alerts-{sfx}",
        dead_letter=f"chaos-dlq-{sfx}",
        feedback=f"chaos-fb-{sfx}",
        user_events=f"chaos-ue-{sfx}",
        user_events_scored=f"chaos-ues-{sfx}",
        transactions_partitions=partitions,
        scores_partitions=partitions,
    )


def _env(settings: Settings, group: str) -> dict[str, str]:
    t, k = settings.topics, settings.kafka
    env = dict(os.environ)
    env.update(
        {
            "FRAUDSTREAM_BUS": "kafka",
            "FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVERS": k.bootstrap_servers,
            "FRAUDSTREAM_KAFKA__SESSION_TIMEOUT_MS": str(k.session_timeout_ms),
            "FRAUDSTREAM_KAFKA__TRANSACTION_TIMEOUT_MS": str(k.transaction_timeout_ms),
            "FRAUDSTREAM_PIPELINE__GROUP_ID": group,
            "FRAUDSTREAM_PIPELINE__DETECTOR": "amount-rule",
            "FRAUDSTREAM_LOG_LEVEL": "INFO",
        }
    )
    for name in ("transactions", "scores", "alerts", "dead_letter", "feedback", "user_events",
                 "user_events_scored"):  # fmt: skip
        env[f"FRAUDSTREAM_TOPICS__{name.upper()}"] = getattr(t, name)
        env[f"FRAUDSTREAM_TOPICS__{name.upper()}_PARTITIONS"] = str(
            getattr(t, f"{name}_partitions")
        )
    return env


def _produce(
    bus: KafkaBus,
    topics: TopicSettings,
    n: int,
    seed: int,
    rate: int,
    ids: set[str],
    kills_done: threading.Event,
) -> None:
    """Send ``n`` transactions at ``rate``; the last tenth waits until the kills are done,
    so that every kill lands while input is still flowing, however slow the machine."""
    from fraudstream.generate.transactions import TransactionGenerator

    reg = InProcessRegistry()
    register_all(reg, topics)
    enc = serde_for("transaction", topics.transactions, reg)
    gen = TransactionGenerator(GeneratorSettings(seed=seed, n_customers=20_000, n_merchants=2_000))
    producer = bus.producer()
    per_tick = max(1, rate // 20)
    sent = sent_at_resume = 0
    t0 = time.monotonic()
    for batch in gen.batches(count=n, batch_size=per_tick):
        if sent >= 0.9 * n and not kills_done.is_set():
            kills_done.wait()
            t0, sent_at_resume = time.monotonic(), sent
        for rec, value in zip(batch, enc.encode_many(batch), strict=True):
            ids.add(rec["transaction_id"])
            producer.produce(topics.transactions, value, key=rec["card_id"].encode())
        sent += len(batch)
        ahead = t0 + (sent - sent_at_resume) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    if producer.flush(60.0):
        raise RuntimeError("input not fully delivered")
    producer.close()
    if len(ids) != n:
        raise RuntimeError(f"generator ids are not unique: {len(ids)} of {n}")


def _progress(bus: KafkaBus, group: str, topic: str, partitions: int) -> int:
    """Input records covered by the group's committed offsets."""
    consumer = bus.consumer(group, read_committed=True)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = consumer.committed(tps)
        return sum(max(0, off) for off in committed.values())
    except BusError as exc:  # e.g. NOT_COORDINATOR while a fresh broker loads the group
        logger.info("committed offsets not available yet: %s", exc)
        return 0
    finally:
        consumer.close()


def read_all(bus: KafkaBus, topic: str, *, idle_s: float = 3.0) -> list[Any]:
    """Every committed record of ``topic`` (read_committed), to the end."""
    consumer = bus.consumer(f"chaos-reader-{uuid.uuid4().hex[:6]}", read_committed=True)
    parts = [TopicPartition(topic, p) for p in range(bus.partitions_for(topic))]
    consumer.assign(parts)
    ends = {tp: consumer.watermarks(tp)[1] for tp in parts}
    out: list[Any] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        batch = consumer.poll_batch(10_000, 0.5)
        out.extend(batch)
        if all(consumer.position(tp) >= ends[tp] for tp in parts if ends[tp] > 0):
            break
    consumer.close()
    return out


def _verify(
    bus: KafkaBus,
    topics: TopicSettings,
    group: str,
    partitions: int,
    ids: set[str],
    result: ChaosResult,
) -> None:
    reg = InProcessRegistry()
    register_all(reg, topics)
    tx = serde_for("transaction", topics.transactions, reg)
    scored = serde_for("scored_transaction", topics.scores, reg)
    alert = serde_for("alert", topics.alerts, reg)
    # crash-free reference: each partition in offset order through the same detector
    det = AmountRuleDetector()
    ref_state: dict[int, dict[str, bytes]] = {}
    ref_velocity: dict[str, float] = {}
    ref_flagged: set[str] = set()
    by_part: dict[int, list[Any]] = {}
    for m in read_all(bus, topics.transactions):
        by_part.setdefault(m.partition, []).append(m)
    for p, msgs in by_part.items():
        store = PartitionStore(p)
        msgs.sort(key=lambda m: m.offset)
        recs = [tx.decode(m.value) for m in msgs]
        for i in range(0, len(recs), 1000):
            chunk = recs[i : i + 1000]
            d = det.score(TransactionBatch(chunk), store)
            assert d.features is not None
            for rec, v, flag in zip(chunk, d.features[:, 1], d.flagged, strict=True):
                ref_velocity[rec["transaction_id"]] = float(v)
                if flag:
                    ref_flagged.add(rec["transaction_id"])
        ref_state[p] = store.snapshot()
    counts: Counter[str] = Counter()
    for m in read_all(bus, topics.scores):
        rec = scored.decode(m.value)
        tid = rec["transaction_id"]
        counts[tid] += 1
        if counts[tid] == 1 and (rec["features"] or {}).get(
            "card_tx_count_10m"
        ) != ref_velocity.get(tid):
            result.feature_mismatches += 1
    result.scored_unique = len(counts)
    result.lost = len(ids - set(counts))
    result.duplicated = sum(c - 1 for c in counts.values() if c > 1)
    alerts = Counter(alert.decode(m.value)["transaction_id"] for m in read_all(bus, topics.alerts))
    result.alerts_expected = len(ref_flagged)
    result.alerts_unique = len(alerts)
    result.alerts_lost = len(ref_flagged - set(alerts))
    result.alerts_unexpected = len(set(alerts) - ref_flagged)
    result.alerts_duplicated = sum(c - 1 for c in alerts.values() if c > 1)
    restore = bus.consumer(f"chaos-restore-{uuid.uuid4().hex[:6]}", read_committed=True)
    for p in range(partitions):
        got, _ = restore_partition(restore, TopicPartition(changelog_topic(group), p))
        want = ref_state.get(p, {})
        snap = got.snapshot()
        result.state_keys += len(snap)
        result.state_mismatches += sum(
            1 for k in set(want) | set(snap) if want.get(k) != snap.get(k)
        )
    restore.close()
