"""Run the generator: worker processes, wall-clock pacing, a sink per worker.

Worker ``w`` of ``N`` generates its own slice of the population (so each card's
events come from one process, in order) and ``count / N`` records, paced by a
token bucket at ``rate / N`` records per second. Pacing changes only when
records leave, never what they are.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fraudstream.errors import ConfigError
from fraudstream.generate.columns import SCENARIOS, Columns
from fraudstream.generate.sinks import open_sink
from fraudstream.generate.transactions import TransactionGenerator
from fraudstream.settings import GeneratorSettings, KafkaSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSpec:
    """What to generate and where to (picklable, handed to every worker).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tx.jsonl"
        >>> cfg = GeneratorSettings(seed=1, n_customers=200, n_merchants=300)
        >>> generate(RunSpec(config=cfg, count=50, output="jsonl", path=path)).records
        50
    """

    config: GeneratorSettings
    count: int
    rate: float = 0.0  # records per second over all workers; 0 = as fast as possible
    workers: int = 1
    output: str = "jsonl"
    path: Path | None = None
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    topic: str = "transactions"
    partitions: int = 6


@dataclass
class GenerationReport:
    """Counts and timing of one run (or one worker's part of it).

    Example:
        >>> r = GenerationReport(records=10, seconds=2.0, by_scenario={"card_testing": 3})
        >>> r.fraud, r.records_per_s
        (3, 5.0)
    """

    records: int = 0
    failed: int = 0
    seconds: float = 0.0
    by_scenario: dict[str, int] = field(default_factory=dict)

    @property
    def fraud(self) -> int:
        return sum(self.by_scenario.values())

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def merge(self, other: GenerationReport) -> None:
        self.records += other.records
        self.failed += other.failed
        self.seconds = max(self.seconds, other.seconds)
        self.by_scenario = dict(Counter(self.by_scenario) + Counter(other.by_scenario))


class Pacer:
    """A token bucket: ``wait(n)`` returns once ``n`` more records may leave.

    Example:
        >>> p = Pacer(0.0); p.wait(10**6)  # rate 0: never waits
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._start = time.monotonic()
        self._sent = 0

    def wait(self, n: int) -> None:
        if self.rate <= 0:
            return
        due = self._start + self._sent / self.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._sent += n


def worker_path(path: Path, worker: int, workers: int) -> Path:
    """Worker ``w``'s JSONL file: ``path`` itself with one worker, else ``stem-wN.suffix``."""
    if workers == 1:
        return path
    return path.with_name(f"{path.stem}-w{worker}{path.suffix}")


def run_worker(spec: RunSpec, worker: int) -> GenerationReport:
    """Generate worker ``worker``'s share of ``spec`` into its own sink."""
    share = spec.count // spec.workers + (1 if worker < spec.count % spec.workers else 0)
    gen = TransactionGenerator(spec.config, worker=worker, workers=spec.workers)
    path = worker_path(spec.path, worker, spec.workers) if spec.path else None
    sink = open_sink(spec.output, gen.ids, path=path, kafka=spec.kafka, topic=spec.topic)
    rate = spec.rate / spec.workers
    # Small slices when paced, so records leave smoothly rather than a chunk at a time.
    step = max(1, min(spec.config.chunk_size, int(rate / 20))) if rate > 0 else 0
    pacer = Pacer(rate)
    scenarios = np.zeros(len(SCENARIOS) + 1, dtype=np.int64)
    start = time.perf_counter()
    report = GenerationReport()

    def counted() -> Iterator[tuple[Columns, np.ndarray]]:
        for cols, raw_ids in gen.column_batches(share):
            scenarios[:] += np.bincount(cols.scenario, minlength=len(scenarios))
            yield cols, raw_ids

    try:
        if step == 0:
            sink.write_many(counted())
        else:
            for cols, raw_ids in counted():
                for lo in range(0, len(cols), step):
                    idx = np.arange(lo, min(lo + step, len(cols)))
                    pacer.wait(len(idx))
                    sink.write(cols.take(idx), raw_ids[idx])
    finally:
        report.failed = sink.close()
    report.seconds = time.perf_counter() - start
    report.records = share
    report.by_scenario = {s: int(scenarios[i + 1]) for i, s in enumerate(SCENARIOS)}
    logger.info(
        "worker %d/%d: %d records (%d fraud) in %.2fs",
        worker,
        spec.workers,
        report.records,
        report.fraud,
        report.seconds,
    )
    return report


def generate(spec: RunSpec) -> GenerationReport:
    """Run ``spec`` with ``spec.workers`` processes (in this process when there is one)."""
    if spec.workers < 1 or spec.count < 0 or spec.rate < 0:
        raise ConfigError("workers must be >= 1, count and rate >= 0")
    if spec.output == "stdout" and spec.workers > 1:
        raise ConfigError("--output stdout takes one worker (lines would interleave)")
    if spec.output == "kafka":
        from fraudstream.bus.kafka import KafkaBus

        KafkaBus(spec.kafka).create_topics({spec.topic: spec.partitions})
    if spec.workers == 1:
        return run_worker(spec, 0)
    import multiprocessing

    # spawn: librdkafka's threads and numpy's pools do not survive a fork well.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(spec.workers) as pool:
        parts = pool.starmap(run_worker, [(spec, w) for w in range(spec.workers)])
    total = GenerationReport()
    for part in parts:
        total.merge(part)
    return total
