"""Throughput and latency of the exactly-once pipeline on a real broker.

Three measurements in one run, each on fresh topics:

1. throughput: N Avro transactions pre-produced, then ``workers`` real
   ``fraudstream score`` processes (each pinned to one core with ``taskset``
   when available) drain them with EOS on and the rule scorer; the rate is
   taken from the group's committed offsets (records / time from the first
   commit to the last);
2. the seed-style baseline (JSON, one synchronous commit per message) on the
   same input count, measured the same way, and the ratio;
3. end-to-end latency at a fixed rate: a paced producer and a ``read_committed``
   consumer of ``fraud-scores`` in its own process; latency = time the scored
   record is read minus the input record's produce timestamp (outputs carry the
   input's timestamp).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from fraudstream.bench.chaos import _env, _progress, _topics
from fraudstream.bus.base import TopicPartition
from fraudstream.bus.kafka import KafkaBus
from fraudstream.errors import BusError
from fraudstream.events.registry import InProcessRegistry
from fraudstream.pipeline.service import ensure_topics
from fraudstream.pipeline.wiring import register_all, serde_for
from fraudstream.settings import GeneratorSettings, KafkaSettings, Settings

logger = logging.getLogger(__name__)


def _pin(core: int | None) -> list[str]:
    if core is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(core % (os.cpu_count() or 1))]


def _spawn(cmd: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    """Start a worker as its own session, like a service started on its own.

    Linux groups CPU time by session ("autogroup", on by default): as a child of
    the bench the worker would share one slice with the load driver, and
    ``nice`` does not order different sessions. Stopped by the bench's ``finally``.
    """
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)


def _setup(bootstrap: str, partitions: int) -> tuple[Settings, KafkaBus, str]:
    sfx = uuid.uuid4().hex[:8]
    group = f"bench-{sfx}"
    kafka = KafkaSettings(bootstrap_servers=bootstrap, session_timeout_ms=6000)
    s = Settings(bus="kafka", topics=_topics(sfx, partitions), kafka=kafka)
    s.pipeline = s.pipeline.model_copy(update={"group_id": group})
    bus = KafkaBus(kafka)
    ensure_topics(bus, s)
    return s, bus, group


def _records(n: int, seed: int = 11) -> list[dict[str, Any]]:
    from fraudstream.generate.transactions import TransactionGenerator

    gen = TransactionGenerator(GeneratorSettings(seed=seed, n_customers=20_000, n_merchants=2_000))
    return [r for b in gen.batches(count=n, batch_size=5000) for r in b]


def _encoder(s: Settings, codec: str) -> Any:
    if codec == "json":
        return lambda recs: [orjson.dumps(r) for r in recs]
    reg = InProcessRegistry()
    register_all(reg, s.topics)
    return serde_for("transaction", s.topics.transactions, reg).encode_many


def _fill(bus: KafkaBus, topic: str, recs: list[dict[str, Any]], encode: Any) -> None:
    producer = bus.producer()
    for i in range(0, len(recs), 5000):
        chunk = recs[i : i + 5000]
        for rec, value in zip(chunk, encode(chunk), strict=True):
            producer.produce(topic, value, key=rec["card_id"].encode())
    producer.flush(120.0)
    producer.close()


def _drain_rate(
    bus: KafkaBus, group: str, topic: str, partitions: int, n: int, timeout_s: float
) -> float:
    """Records/s from the first committed progress to the whole input committed."""
    t0 = time.monotonic()
    first: tuple[float, int] | None = None
    while time.monotonic() - t0 < timeout_s:
        done = _progress(bus, group, topic, partitions)
        now = time.monotonic()
        if first is None and done > 0:
            first = (now, done)
        if done >= n:
            if first is None or now - first[0] <= 0:
                return float("nan")
            return (n - first[1]) / (now - first[0])
        time.sleep(0.2)
    raise TimeoutError(f"group {group} did not commit {n} records in {timeout_s}s")


def cpu_rate(logs: list[Path]) -> float:
    """Records per CPU-second of the workers (from their exit lines; all their threads)."""
    consumed = cpu = 0.0
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("worker ") and "busy_cpu_s=" in line:
                fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
                consumed += float(fields["consumed"])
                cpu += float(fields["busy_cpu_s"])
    return consumed / cpu if cpu > 0 else float("nan")


def measure_throughput(
    bootstrap: str, *, records: int, workers: int, partitions: int, log_dir: Path
) -> float:
    """EOS workers (subprocesses, one core each) draining pre-produced Avro input."""
    s, bus, group = _setup(bootstrap, partitions)
    _fill(bus, s.topics.transactions, _records(records), _encoder(s, "avro"))
    env = _env(s, group)
    env["FRAUDSTREAM_LOG_LEVEL"] = "WARNING"
    procs = []
    for i in range(workers):
        cmd = [*_pin(i + 1), sys.executable, "-m", "fraudstream.cli", "score"]
        cmd += ["--worker-id", f"w{i}"]
        with (log_dir / f"tput-{workers}w-{i}.log").open("ab") as log:
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=log))
    try:
        return _drain_rate(bus, group, s.topics.transactions, partitions, records, 600)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def measure_baseline(bootstrap: str, *, records: int, partitions: int, log_dir: Path) -> float:
    """The seed-style consumer (JSON, sync commit per message) on the same input count."""
    s, bus, group = _setup(bootstrap, partitions)
    _fill(bus, s.topics.transactions, _records(records), _encoder(s, "json"))
    t = s.topics
    cmd = [*_pin(1), sys.executable, "-m", "fraudstream.bench.baseline", bootstrap, group,
           t.transactions, t.scores, t.alerts]  # fmt: skip
    with (log_dir / "baseline.log").open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
    try:
        return _drain_rate(bus, group, t.transactions, partitions, records, 900)
    finally:
        proc.terminate()
        proc.wait(30)


def measure_latency(
    bootstrap: str, *, rate: int, seconds: float, partitions: int, log_dir: Path,
    trace: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """p50/p99/max produce -> visible-to-read_committed latency at ``rate`` records/s.

    Three processes, so that none of them delays another through the GIL: the
    worker (``fraudstream score``, pinned to one core), the ``read_committed``
    reader of ``fraud-scores`` (:func:`_read_scores`) and the paced load driver
    (this process). Latency = the reader's wall clock when a scored record
    arrives minus the input record's produce timestamp (outputs carry it).

    With ``trace`` the worker logs a stage trace per commit (input produce ->
    poll return, transaction open time, changelog / offsets / commit calls) and
    the result gains their medians and p99s under ``stages``.
    """
    s, bus, group = _setup(bootstrap, partitions)
    encode = _encoder(s, "avro")
    recs = _records(int(rate * seconds) + rate)
    env = _env(s, group)
    env["FRAUDSTREAM_LOG_LEVEL"] = "DEBUG" if trace else "WARNING"
    cmd = [*_pin(1), sys.executable, "-m", "fraudstream.cli", "score", "--worker-id", "lat"]
    worker_log = log_dir / f"latency-worker-{rate}.log"
    out_file = log_dir / f"latency-reader-{rate}-{uuid.uuid4().hex[:6]}.npy"
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    reader = ctx.Process(
        target=_read_scores,
        args=(bootstrap, s.topics.scores, partitions, str(out_file), ready, stop),
        daemon=True,
    )
    with worker_log.open("ab") as log:
        worker = _spawn(cmd, env, log)
    producer = bus.producer()
    body = recs[rate:]
    try:
        reader.start()
        _warm_up(bus, s, producer, recs[:rate], encode, group, partitions)
        if not ready.wait(60):
            raise TimeoutError("latency reader did not start")
        time.sleep(1.0)
        # Kafka timestamps are whole ms; the warm-up ended over a second ago.
        body_start_ms = time.time() * 1000 - 500
        wait0 = runqueue_wait_s(worker.pid)
        sent_s = _drive(producer, s.topics.transactions, body, encode, rate)
        producer.flush(30)
        deadline = time.monotonic() + 60
        while _progress(bus, group, s.topics.transactions, partitions) < len(recs):
            if time.monotonic() > deadline:
                raise TimeoutError("worker did not commit the whole input")
            time.sleep(0.2)
        time.sleep(1.0)  # the reader sees the last commit a few ms after it
        wait1 = runqueue_wait_s(worker.pid)
    finally:
        stop.set()
        reader.join(30)
        worker.terminate()
        worker.wait(30)
    ts, lat = np.load(out_file)
    arr = lat[ts >= body_start_ms]
    if arr.size != len(body):  # read_committed downstream of EOS: each record once
        raise RuntimeError(f"the reader saw {arr.size} scored records for {len(body)} inputs")
    out: dict[str, Any] = {
        "rate": rate,
        "achieved_rate": round(len(body) / sent_s, 1),
        "records": int(arr.size),
        "p50_ms": round(float(np.percentile(arr, 50)), 1),
        "p99_ms": round(float(np.percentile(arr, 99)), 1),
        "max_ms": round(float(arr.max()), 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        # Seconds the worker's threads were runnable but waited for a CPU during the
        # run: how far the machine, not the pipeline, set the figures.
        "worker_cpu_wait_s": None if wait0 is None or wait1 is None else round(wait1 - wait0, 2),
    }
    if trace:
        out["stages"] = stage_summary(worker_log)
    return out


def runqueue_wait_s(pid: int) -> float | None:
    """Total run-queue wait of all threads of ``pid`` (``/proc/*/schedstat``), or None."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return total / 1e9


def _drive(producer: Any, topic: str, recs: list[dict[str, Any]], encode: Any, rate: int) -> float:
    """Produce ``recs`` paced at ``rate``/s (a chunk every 10 ms); return the seconds taken."""
    per_tick = max(1, int(rate * 0.01))
    t0 = time.monotonic()
    for i in range(0, len(recs), per_tick):
        chunk = recs[i : i + per_tick]
        for rec, value in zip(chunk, encode(chunk), strict=True):
            producer.produce(topic, value, key=rec["card_id"].encode())
        ahead = t0 + (i + per_tick) / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    return time.monotonic() - t0


def _read_scores(
    bootstrap: str, topic: str, partitions: int, out: str, ready: Any, stop: Any
) -> None:  # pragma: no cover - runs in a child process (measured by the bench itself)
    """Child process: read ``topic`` read_committed, save (produce ts, latency) pairs."""
    os.setsid()  # its own CPU slice, not the load driver's (see ``_spawn``)
    bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap))
    reader = bus.consumer(f"lat-reader-{uuid.uuid4().hex[:8]}", read_committed=True)
    reader.assign([TopicPartition(topic, p) for p in range(partitions)])
    ts: list[int] = []
    lat: list[float] = []
    ready.set()
    while not stop.is_set():
        try:
            # A short timeout: ``consume`` waits its whole timeout unless it fills the
            # batch, which would add up to that much to every figure measured here.
            batch = reader.poll_batch(5000, 0.002)
        except BusError as exc:  # NOT_COORDINATOR while a fresh broker loads offsets
            logger.info("latency reader: %s", exc)
            time.sleep(0.05)
            continue
        now = time.time() * 1000
        for m in batch:
            ts.append(m.timestamp_ms)
            lat.append(now - m.timestamp_ms)
    reader.close()
    np.save(out, np.array([np.asarray(ts, np.float64), np.asarray(lat, np.float64)]))


def stage_summary(log: Path) -> dict[str, dict[str, float]]:
    """Median and p99 of every ``commit-trace`` field the worker logged (ms)."""
    rows: dict[str, list[float]] = {}
    lines = [x for x in log.read_text(errors="replace").splitlines() if "commit-trace" in x]
    for line in lines[len(lines) // 10 :]:  # the first tenth: start-up and warm-up
        for f in line.split("commit-trace", 1)[1].split():
            if "=" in f:
                k, v = f.split("=", 1)
                rows.setdefault(k, []).append(float(v))
    return {
        k: {"p50": round(float(np.median(v)), 1), "p99": round(float(np.percentile(v, 99)), 1)}
        for k, v in rows.items()
    }


def _warm_up(
    bus: KafkaBus, s: Settings, producer: Any, recs: list[dict[str, Any]], encode: Any,
    group: str, partitions: int,
) -> None:  # fmt: skip
    """Send a first second of records and wait until the worker committed them."""
    for rec, value in zip(recs, encode(recs), strict=True):
        producer.produce(s.topics.transactions, value, key=rec["card_id"].encode())
    producer.flush(30)
    deadline = time.monotonic() + 120
    while _progress(bus, group, s.topics.transactions, partitions) < len(recs):
        if time.monotonic() > deadline:
            raise TimeoutError("worker did not start")
        time.sleep(0.2)


PARTS = ("throughput", "baseline", "scaling", "latency")


def run_bench(
    bootstrap: str,
    *,
    records: int = 200_000,
    baseline_records: int = 20_000,
    latency_rates: tuple[int, ...] = (5000,),
    latency_seconds: float = 20.0,
    partitions: int = 6,
    parts: tuple[str, ...] = PARTS,
    repeat: int = 1,
    trace: bool = False,
) -> dict[str, Any]:
    """Every measurement of the module doc (or the ``parts`` named); returns the figures.

    The baseline ratio and the scaling need the one-worker throughput, so
    ``baseline`` or ``scaling`` alone run ``throughput`` too.
    """
    log_dir = Path(tempfile.mkdtemp(prefix="fraudstream-bench-"))
    out: dict[str, Any] = {"log_dir": str(log_dir), "cpus": os.cpu_count()}
    out["load_avg_1m_start"] = round(os.getloadavg()[0], 2)
    eos1 = float("nan")
    if {"throughput", "baseline", "scaling"} & set(parts):
        eos1 = measure_throughput(
            bootstrap, records=records, workers=1, partitions=partitions, log_dir=log_dir
        )
        out["eos_1_worker_per_s"] = round(eos1, 1)
        out["eos_1_worker_per_cpu_s"] = round(cpu_rate([log_dir / "tput-1w-0.log"]), 1)
    if "baseline" in parts:
        base = measure_baseline(
            bootstrap, records=baseline_records, partitions=partitions, log_dir=log_dir
        )
        out["baseline_per_s"] = round(base, 1)
        out["speedup_vs_baseline"] = round(eos1 / base, 1)
    if "scaling" in parts:
        eos2 = measure_throughput(
            bootstrap, records=records, workers=2, partitions=partitions, log_dir=log_dir
        )
        out["eos_2_workers_per_s"] = round(eos2, 1)
        out["eos_2_workers_per_cpu_s"] = round(
            cpu_rate([log_dir / "tput-2w-0.log", log_dir / "tput-2w-1.log"]), 1
        )
        out["scaling_2_workers"] = round(eos2 / eos1, 2)
    if "latency" in parts:
        out["latency"] = [
            _median_run(
                [
                    measure_latency(
                        bootstrap, rate=r, seconds=latency_seconds, partitions=partitions,
                        log_dir=log_dir, trace=trace,
                    )
                    for _ in range(max(1, repeat))
                ]
            )
            for r in latency_rates
        ]  # fmt: skip
    return out


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median p99, plus every run's p50/p99 when there are several."""
    if len(runs) == 1:
        return runs[0]
    ordered = sorted(runs, key=lambda r: float(r["p99_ms"]))
    best = dict(ordered[len(ordered) // 2])
    best["runs"] = [{k: r[k] for k in ("p50_ms", "p99_ms", "max_ms", "load_avg_1m")} for r in runs]
    return best
