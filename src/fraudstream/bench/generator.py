"""Benchmark of the transaction generator, one worker (one process).

Stages, each over the same ``--count`` records:

Set-up (population, id tables, encoder tables, producer) is not timed; with
``--repeat N`` each stage runs N times and its median run is reported.

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


def run(
    count: int, customers: int, bootstrap: str | None, seed: int = 42, repeat: int = 1
) -> dict[str, Any]:
    """Run every stage ``repeat`` times; report each stage's median run (and all rates)."""
    config = GeneratorConfig(seed=seed, n_customers=customers)
    build = time.perf_counter()
    population = TransactionGenerator(config).pop
    build_s = time.perf_counter() - build

    def fresh() -> TransactionGenerator:
        return TransactionGenerator(config, population=population)

    # Each factory does its set-up (untimed) and returns the timed part.
    def columns() -> Callable[[], int]:
        gen = fresh()
        return lambda: sum(len(c) for c, _ in gen.column_batches(count))

    def dicts() -> Callable[[], int]:
        gen = fresh()
        return lambda: sum(len(b) for b in gen.batches(count, 10_000))

    def avro() -> Callable[[], int]:
        gen = fresh()
        encoder = TransactionEncoder(gen.ids, schema_id=1)
        return lambda: sum(len(encoder.encode(c, r)[1]) for c, r in gen.column_batches(count))

    def dicts_serde() -> Callable[[], int]:
        from fraudstream.events.registry import InProcessRegistry
        from fraudstream.events.serde import AvroSerde

        serde = AvroSerde("transaction", InProcessRegistry(), "transactions-value")
        gen = fresh()

        def timed() -> int:
            n = 0
            for cols, raw in gen.column_batches(count):
                n += len(serde.encode_many(gen.ids.to_records(cols, format_ids(raw))))
            return n

        return timed

    stages: dict[str, Callable[[], Callable[[], int]]] = {
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
        warm = KafkaSink(fresh().ids, kafka, topic)  # the first producer waits for the broker
        warm.send([b"warm"], [b"up"])
        warm.close()

        def to_kafka() -> Callable[[], int]:
            gen = fresh()
            sink = KafkaSink(gen.ids, kafka, topic)

            def timed() -> int:
                sink.write_many(gen.column_batches(count))  # what the CLI does
                failed = sink.close()
                if failed:
                    raise RuntimeError(f"{failed} records not delivered")
                return count

            return timed

        stages["generate_avro_kafka"] = to_kafka
    results: dict[str, dict[str, Any]] = {}
    loads = []
    for name, factory in stages.items():
        runs = [_timed(factory()) for _ in range(repeat)]
        loads.append(os.getloadavg()[0])
        runs.sort(key=lambda r: r["records_per_s"])
        median: dict[str, Any] = dict(runs[len(runs) // 2])
        median["all_records_per_s"] = [r["records_per_s"] for r in runs]
        results[name] = median
    return {
        "benchmark": "generator",
        "count": count,
        "customers": customers,
        "workers": 1,
        "repeat": repeat,
        "population_build_s": round(build_s, 3),
        "stages": results,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "load_avg_1m_per_stage": [round(x, 2) for x in loads],
        },
    }


def print_report(report: dict[str, Any]) -> None:
    """Print one line per stage."""
    for name, r in report["stages"].items():
        print(
            f"{name:24s} {r['records_per_s']:>10,}/s wall  "
            f"{r['records_per_cpu_s']:>10,}/s per CPU-second  ({r['records']:,} in {r['wall_s']}s;"
            f" all runs {r['all_records_per_s']})"
        )
    print(f"load average (1 min) at the end: {report['machine']['load_avg_1m']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=500_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--bootstrap", default=None, help="host:port of a real broker")
    parser.add_argument("--repeat", type=int, default=1, help="runs per stage (median kept)")
    parser.add_argument("--json", type=Path, default=Path("reports/bench-generator.json"))
    args = parser.parse_args(argv)
    report = run(args.count, args.customers, args.bootstrap, repeat=args.repeat)
    print_report(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
