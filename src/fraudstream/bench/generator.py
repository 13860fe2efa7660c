"""Benchmark of the transaction generator, one worker (one process).

Stages, each over the same ``--count`` records:

Setup (population, id tables, encoder tables, producer) is timed apart.

1. ``generate_columns``: events as numpy columns (the generator alone);
2. ``generate_dicts``: the same, materialised as ``transaction.avsc`` dicts;
3. ``generate_avro``: columns encoded to wire-format Avro (the columnar encoder);
4. ``generate_dicts_serde``: dicts encoded one by one with ``AvroSerde`` (reference);
5. ``generate_avro_kafka``: columnar Avro produced to a real broker (acks=all,
   idempotent, lz4, keyed by card) and flushed, generation and encoding in a
   helper thread as the CLI does: only with a broker.

Each figure is records per wall-clock second and per CPU second of this process
(librdkafka's threads included): on a shared machine the second shows what
one core does when it gets the CPU.

Run:
    fraudstream bench generator --bootstrap 127.0.0.1:9092   (no --bootstrap: a throwaway broker)
    python -m fraudstream.bench.generator --count 500000 --bootstrap 127.0.0.1:9092
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fraudstream.generate.encode import TransactionEncoder
from fraudstream.generate.transactions import GeneratorConfig, TransactionGenerator, format_ids
from fraudstream.settings import KafkaSettings


def _timed(fn: Callable[[], int]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "records": n,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "records_per_s": round(n / wall),
        "records_per_cpu_s": round(n / cpu) if cpu > 0 else 0,
    }


def run(count: int, customers: int, bootstrap: str | None, seed: int = 42) -> dict[str, Any]:
    """Run every stage once; return the figures."""
    config = GeneratorConfig(seed=seed, n_customers=customers)
    build = time.perf_counter()
    population = TransactionGenerator(config).pop
    build_s = time.perf_counter() - build

    def fresh() -> TransactionGenerator:
        return TransactionGenerator(config, population=population)

    gen_columns, gen_dicts, gen_serde = fresh(), fresh(), fresh()

    def columns() -> int:
        return sum(len(c) for c, _ in gen_columns.column_batches(count))

    def dicts() -> int:
        return sum(len(b) for b in gen_dicts.batches(count, 10_000))

    setup = time.perf_counter()
    gen_avro = fresh()
    encoder = TransactionEncoder(gen_avro.ids, schema_id=1)
    setup_s = {"encoder": round(time.perf_counter() - setup, 3)}

    def avro() -> int:
        return sum(len(encoder.encode(c, r)[1]) for c, r in gen_avro.column_batches(count))

    def dicts_serde() -> int:
        from fraudstream.events.registry import InProcessRegistry
        from fraudstream.events.serde import AvroSerde

        serde = AvroSerde("transaction", InProcessRegistry(), "transactions-value")
        n = 0
        for cols, raw in gen_serde.column_batches(count):
            n += len(serde.encode_many(gen_serde.ids.to_records(cols, format_ids(raw))))
        return n

    stages: dict[str, Callable[[], int]] = {
        "generate_columns": columns,
        "generate_dicts": dicts,
        "generate_avro": avro,
        "generate_dicts_serde": dicts_serde,
    }
    if bootstrap:
        from fraudstream.bus.kafka import KafkaBus
        from fraudstream.generate.sinks import KafkaSink

        kafka = KafkaSettings(bootstrap_servers=bootstrap)
        topic = f"bench-generator-{int(time.time())}"
        KafkaBus(kafka).create_topics({topic: 6})
        warm = KafkaSink(fresh().ids, kafka, topic)  # first producer waits for the broker
        warm.send([b"warm"], [b"up"])
        warm.close()

        setup = time.perf_counter()
        gen_kafka = fresh()
        sink = KafkaSink(gen_kafka.ids, kafka, topic)
        setup_s["kafka_sink"] = round(time.perf_counter() - setup, 3)

        def to_kafka() -> int:
            sink.write_many(gen_kafka.column_batches(count))  # what the CLI does
            failed = sink.close()
            if failed:
                raise RuntimeError(f"{failed} records not delivered")
            return count

        stages["generate_avro_kafka"] = to_kafka
    results = {name: _timed(fn) for name, fn in stages.items()}
    return {
        "benchmark": "generator",
        "count": count,
        "customers": customers,
        "workers": 1,
        "population_build_s": round(build_s, 3),
        "setup_s": setup_s,
        "stages": results,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
    }


def print_report(report: dict[str, Any]) -> None:
    """Print one line per stage."""
    for name, r in report["stages"].items():
        print(
            f"{name:24s} {r['records_per_s']:>10,}/s wall  "
            f"{r['records_per_cpu_s']:>10,}/s per CPU-second  ({r['records']:,} in {r['wall_s']}s)"
        )
    print(f"load average (1 min) at the end: {report['machine']['load_avg_1m']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=500_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--bootstrap", default=None, help="host:port of a real broker")
    parser.add_argument("--json", type=Path, default=Path("reports/bench-generator.json"))
    args = parser.parse_args(argv)
    report = run(args.count, args.customers, args.bootstrap)
    print_report(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
