"""Benchmark of the two bus backends: produce, consume, and an exactly-once copy loop.

For each backend (``memory``; ``kafka`` on a given broker or a throwaway local one)
and ``--records`` records of ``--value-bytes`` bytes keyed by ``--keys`` card ids:

* ``produce``: an idempotent producer, ``acks=all``, until ``flush`` returns;
* ``consume``: a fresh group reads them all back (``poll_batch`` of 1000);
* ``eos_copy``: read -> transactional ``produce_batch`` -> ``send_offsets`` -> commit
  every ``--txn-records`` records (the pipeline's transaction pattern without scoring).

Figures are records per wall-clock second (consumer rates from the first record
on, so the group join is left out), the median of ``--repeat`` runs.

Run:
    python -m fraudstream.bench.bus --bus both --records 100000 --repeat 1 --out var/bench/bus.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from fraudstream.bus.base import Bus, TopicPartition
from fraudstream.bus.memory import MemoryBus


def _produce(bus: Bus, topic: str, n: int, value: bytes, keys: int) -> float:
    p = bus.producer()
    t0 = time.perf_counter()
    for i in range(n):
        p.produce(topic, value, f"card-{i % keys}".encode())
    pending = p.flush(120.0)
    elapsed = time.perf_counter() - t0
    if pending:
        raise RuntimeError(f"{pending} records not delivered")
    p.close()
    return n / elapsed


def _consume(bus: Bus, topic: str, n: int) -> float:
    c = bus.consumer(f"bench-{uuid.uuid4().hex[:8]}")
    c.subscribe([topic])
    got = len(c.poll_batch(1000, 30.0))  # the group join is not part of the rate
    t0 = time.perf_counter()
    while got < n:
        got += len(c.poll_batch(1000, 1.0))
        if time.perf_counter() - t0 > 300:
            raise RuntimeError(f"consumed only {got} of {n}")
    elapsed = time.perf_counter() - t0
    c.close()
    return n / elapsed


def _eos_copy(bus: Bus, src: str, dst: str, n: int, txn_records: int) -> float:
    group = f"bench-eos-{uuid.uuid4().hex[:8]}"
    c = bus.consumer(group)
    c.subscribe([src])
    tx = bus.transactional_producer(group)
    got, in_txn = 0, 0
    offsets: dict[TopicPartition, int] = {}
    msgs = c.poll_batch(1000, 30.0)  # the group join is not part of the rate
    t0 = time.perf_counter()
    tx.begin()
    batch_produce = getattr(tx, "produce_batch", None)  # the pipeline's hot path
    while got < n:
        msgs = msgs or c.poll_batch(1000, 1.0)
        if batch_produce is not None:
            batch_produce([(dst, m.value, m.key, m.partition, None) for m in msgs])
        else:
            for m in msgs:
                tx.produce(dst, m.value, m.key, partition=m.partition)
        for m in msgs:
            offsets[m.tp] = m.offset + 1
        got += len(msgs)
        in_txn += len(msgs)
        msgs = []
        if in_txn >= txn_records or got >= n:
            tx.send_offsets(offsets, c)
            tx.commit()
            offsets.clear()
            in_txn = 0
            if got < n:
                tx.begin()
        if time.perf_counter() - t0 > 300:
            raise RuntimeError(f"copied only {got} of {n}")
    elapsed = time.perf_counter() - t0
    c.close()
    tx.close()
    return n / elapsed


def run(bus: Bus, args: argparse.Namespace) -> dict[str, float]:
    value = b"x" * args.value_bytes
    runs: dict[str, list[float]] = {"produce": [], "consume": [], "eos_copy": []}
    for _ in range(args.repeat):
        src, dst = f"bench-src-{uuid.uuid4().hex[:8]}", f"bench-dst-{uuid.uuid4().hex[:8]}"
        bus.create_topics({src: args.partitions, dst: args.partitions})
        runs["produce"].append(_produce(bus, src, args.records, value, args.keys))
        runs["consume"].append(_consume(bus, src, args.records))
        runs["eos_copy"].append(_eos_copy(bus, src, dst, args.records, args.txn_records))
    return {k: round(statistics.median(v)) for k, v in runs.items()}


@contextlib.contextmanager
def _kafka(bootstrap: str | None) -> Iterator[Bus]:
    from fraudstream.bench.commands import broker
    from fraudstream.bus.kafka import KafkaBus
    from fraudstream.settings import KafkaSettings

    with broker(bootstrap) as address:
        yield KafkaBus(KafkaSettings(bootstrap_servers=address))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bus", choices=["memory", "kafka", "both"], default="both")
    ap.add_argument("--bootstrap", default=None, help="Kafka broker; default: a throwaway one")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--value-bytes", type=int, default=200)
    ap.add_argument("--keys", type=int, default=10_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--txn-records", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("var/bench/bus.json"))
    args = ap.parse_args()
    figures: dict[str, object] = {
        "records": args.records,
        "value_bytes": args.value_bytes,
        "partitions": args.partitions,
        "txn_records": args.txn_records,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if args.bus in ("memory", "both"):
        figures["memory"] = run(MemoryBus(), args)
        print("memory (records/s):", figures["memory"])
    if args.bus in ("kafka", "both"):
        with _kafka(args.bootstrap) as bus:
            figures["kafka"] = run(bus, args)
        print("kafka (records/s):", figures["kafka"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
