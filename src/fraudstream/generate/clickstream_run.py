"""Run the click-stream simulator: workers, rate control and the three outputs.

Outputs: Kafka (Avro in the Confluent wire format, UUID keys, the ground
truth in the ``fraudstream-label`` header), JSON lines, or stdout.

The Kafka output uses confluent-kafka directly instead of the
:mod:`fraudstream.bus` abstraction on purpose: a traffic generator must see
per-message delivery reports (to log failures with topic, partition, key and
reason) and librdkafka's full-queue ``BufferError`` (to apply back-pressure),
which the bus protocol deliberately hides. :func:`publish_events` feeds any
bus :class:`~fraudstream.bus.base.Producer` for in-process use.

Each worker process runs its own generator (its own reproducible stream) and
producer; Ctrl-C or SIGTERM stops every worker after it flushes.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from fraudstream.bus.base import Producer as BusProducer
from fraudstream.events.contracts import USER_EVENT
from fraudstream.events.jsonio import TimestampStyle, to_jsonable
from fraudstream.events.registry import SchemaRegistry, open_registry, subject_for
from fraudstream.events.serde import AvroSerde
from fraudstream.generate.clickstream import (
    ClickstreamConfig,
    ClickstreamGenerator,
    LabelledEvent,
)
from fraudstream.settings import KafkaSettings

logger = logging.getLogger(__name__)

Output = Literal["kafka", "jsonl", "stdout"]


@dataclass(frozen=True)
class RunOptions:
    """How one run is driven (shared by all workers).

    ``rate`` is events per second per worker (0: as fast as possible);
    ``max_messages`` is per worker (``None``: until stopped);
    ``producer_overrides`` are librdkafka settings laid over the seed's
    (security settings, queue sizes, timeouts); with ``create_topic_partitions``
    the Kafka topic is created first if missing (the cluster does not auto-create).
    """

    output: Output = "stdout"
    topic: str = "user-events"
    path: Path | None = None
    workers: int = 1
    rate: float = 100.0
    max_messages: int | None = None
    log_every: int = 1000
    start_time_ms: int = 0
    timestamps: TimestampStyle = "millis"
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    producer_overrides: Mapping[str, Any] = field(default_factory=dict)
    create_topic_partitions: int | None = None


@dataclass
class WorkerStats:
    produced: int = 0
    delivered: int = 0
    failed: int = 0
    buffer_full: int = 0


def kafka_producer_config(kafka: KafkaSettings, worker_id: int) -> dict[str, Any]:
    """The seed's producer settings: durable, batched, compressed."""
    return {
        "bootstrap.servers": kafka.bootstrap_servers,
        "client.id": f"{kafka.client_id}-clickstream-{worker_id}",
        "acks": "all",
        "enable.idempotence": True,
        "batch.size": 32768,
        "linger.ms": 20,
        "compression.type": "snappy",
    }


def publish_events(
    producer: BusProducer, topic: str, serde: AvroSerde, events: Iterable[LabelledEvent]
) -> int:
    """Encode and produce events on a bus producer (keyed by user id); return the count."""
    n = 0
    for ev in events:
        producer.produce(
            topic,
            serde.encode(ev.event),
            key=ev.event["user_id"].encode(),
            headers=ev.label_headers(),
        )
        n += 1
    return n


class _Stop:
    """Set by SIGINT/SIGTERM in a worker; the loop checks it between events."""

    def __init__(self) -> None:
        self.flag = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.flag = True


def run_worker(
    worker_id: int,
    config: ClickstreamConfig,
    opts: RunOptions,
    stop: _Stop | None = None,
    *,
    registry: SchemaRegistry | None = None,
    producer: Any = None,
) -> WorkerStats:
    """Generate and write one worker's stream until ``max_messages`` or a stop signal.

    ``registry`` and ``producer`` replace the ones built from ``opts.kafka``
    (Kafka output only).
    """
    stop = stop or _Stop()
    gen = ClickstreamGenerator(config, worker_id=worker_id, start_time_ms=opts.start_time_ms)
    logger.info("clickstream worker %d started (output=%s)", worker_id, opts.output)
    if opts.output == "kafka":
        return _run_kafka(worker_id, gen, opts, stop, registry, producer)
    stats = WorkerStats()
    fh: IO[bytes]
    if opts.output == "jsonl":
        if opts.path is None:
            raise ValueError("jsonl output needs a path")
        path = opts.path if opts.workers == 1 else _worker_path(opts.path, worker_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("wb")
    else:
        fh = sys.stdout.buffer
    pacer = _Pacer(opts.rate)
    started = time.monotonic()
    try:
        while not stop.flag and (opts.max_messages is None or stats.produced < opts.max_messages):
            ev = gen.next_event()
            rec = to_jsonable(USER_EVENT, ev.jsonl_record(), timestamps=opts.timestamps)
            fh.write(orjson.dumps(rec) + b"\n")
            stats.produced += 1
            stats.delivered += 1
            _log_throughput(worker_id, stats.produced, started, opts.log_every)
            pacer.wait(stats.produced)
    finally:
        fh.flush()
        if fh is not sys.stdout.buffer:
            fh.close()
    logger.info("clickstream worker %d done: %d events", worker_id, stats.produced)
    return stats


class DeliveryReport:
    """The ``on_delivery`` callback: counts deliveries, logs each failure with its origin."""

    def __init__(self, stats: WorkerStats) -> None:
        self.stats = stats

    def __call__(self, err: Any, msg: Any) -> None:
        if err is None:
            self.stats.delivered += 1
            return
        self.stats.failed += 1
        raw_key = msg.key()
        key = raw_key.decode(errors="replace") if raw_key else None
        logger.error(
            "delivery failed topic=%s partition=%s key=%s code=%s reason=%s",
            msg.topic(),
            msg.partition(),
            key,
            err.code(),
            err.str(),
        )


def make_kafka_producer(opts: RunOptions, worker_id: int) -> Any:
    """A confluent-kafka producer with the seed's settings (lz4 if snappy is missing)."""
    from confluent_kafka import KafkaException
    from confluent_kafka import Producer as KafkaProducer

    conf = {**kafka_producer_config(opts.kafka, worker_id), **opts.producer_overrides}
    try:
        return KafkaProducer(conf)
    except KafkaException:
        if conf.get("compression.type") != "snappy":
            raise
        logger.warning("snappy unavailable in librdkafka, using lz4")
        return KafkaProducer({**conf, "compression.type": "lz4"})


def _run_kafka(
    worker_id: int,
    gen: ClickstreamGenerator,
    opts: RunOptions,
    stop: _Stop,
    registry: SchemaRegistry | None,
    producer: Any,
) -> WorkerStats:
    serde = AvroSerde(USER_EVENT, registry or open_registry(opts.kafka), subject_for(opts.topic))
    if producer is None:
        producer = make_kafka_producer(opts, worker_id)
    stats = WorkerStats()
    on_delivery = DeliveryReport(stats)

    pacer = _Pacer(opts.rate)
    started = time.monotonic()
    try:
        while not stop.flag and (opts.max_messages is None or stats.produced < opts.max_messages):
            ev = gen.next_event()
            value, key = serde.encode(ev.event), ev.event["user_id"].encode()
            headers: list[tuple[str, str | bytes | None]] = list(ev.label_headers())
            while True:
                try:
                    producer.produce(
                        opts.topic,
                        value=value,
                        key=key,
                        headers=headers,
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    # librdkafka's queue is full: serve delivery reports until there is
                    # room, then retry the same message (never drop it)
                    stats.buffer_full += 1
                    if stats.buffer_full % 1000 == 1:
                        logger.warning(
                            "producer queue full (worker %d, %d times), waiting",
                            worker_id,
                            stats.buffer_full,
                        )
                    producer.poll(0.5)
            stats.produced += 1
            producer.poll(0)
            _log_throughput(worker_id, stats.produced, started, opts.log_every)
            pacer.wait(stats.produced, poll=producer.poll)
    finally:
        remaining = producer.flush(30.0)
        while remaining > 0 and not stop.flag:
            logger.info("worker %d: %d messages still in queue", worker_id, remaining)
            remaining = producer.flush(5.0)
    logger.info(
        "clickstream worker %d done: produced=%d delivered=%d failed=%d",
        worker_id,
        stats.produced,
        stats.delivered,
        stats.failed,
    )
    return stats


class _Pacer:
    """Sleeps (or serves producer callbacks) so that event ``n`` leaves at ``n / rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.t0 = time.monotonic()

    def wait(self, n: int, poll: Any = None) -> None:
        if self.rate <= 0:
            return
        ahead = self.t0 + n / self.rate - time.monotonic()
        if ahead > 0:
            if poll is not None:
                poll(ahead)
            else:
                time.sleep(ahead)


def _log_throughput(worker_id: int, n: int, started: float, every: int) -> None:
    if every > 0 and n % every == 0:
        elapsed = time.monotonic() - started
        logger.info(
            "worker %d: %d messages in %.1f s (%.0f msg/s)",
            worker_id,
            n,
            elapsed,
            n / elapsed if elapsed > 0 else 0.0,
        )


def _worker_path(path: Path, worker_id: int) -> Path:
    return path.with_name(f"{path.stem}-w{worker_id}{path.suffix}")


def _worker_main(worker_id: int, config: ClickstreamConfig, opts: RunOptions, level: int) -> None:
    fmt = "%(asctime)s %(levelname)s %(processName)s %(name)s %(message)s"
    logging.basicConfig(level=level, stream=sys.stderr, format=fmt)
    stop = _Stop()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    stats = run_worker(worker_id, config, opts, stop)
    sys.exit(1 if stats.failed else 0)


def run_clickstream(config: ClickstreamConfig, opts: RunOptions) -> int:
    """Run ``opts.workers`` workers (one in-process, more as processes).

    Returns how many workers had undelivered messages or crashed (0: all good).
    """
    if opts.output == "kafka" and opts.create_topic_partitions:
        from fraudstream.bus.kafka import KafkaBus

        bus = KafkaBus(opts.kafka)
        try:
            bus.create_topics({opts.topic: opts.create_topic_partitions})
        finally:
            bus.close()
    if opts.workers == 1:
        stop = _Stop()
        previous = signal.signal(signal.SIGINT, stop)
        try:
            stats = run_worker(0, config, opts, stop)
        finally:
            signal.signal(signal.SIGINT, previous)
        return 1 if stats.failed else 0
    ctx = mp.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    procs = [
        ctx.Process(
            target=_worker_main, args=(i, config, replace(opts), level), name=f"clickstream-{i}"
        )
        for i in range(opts.workers)
    ]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        # the workers got the same SIGINT: give them time to flush, then insist
        logger.info("shutting down %d workers", len(procs))
        for p in procs:
            p.join(timeout=35.0)
            if p.is_alive():
                p.terminate()
    return sum(1 for p in procs if p.exitcode != 0)
