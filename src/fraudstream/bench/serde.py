"""Benchmark of the Avro serde: one record per call, one core, one process.

For a transaction (``transaction.avsc``, 19 fields) and a user event it times,
over the same ``--count`` records:

* ``serde_encode`` / ``serde_decode``: :class:`AvroSerde` (generated codec,
  Confluent header included), one record per call;
* ``serde_decode_many``: the batch form the pipeline uses (errors as data);
* ``fastavro_encode`` / ``fastavro_decode``: fastavro's ``schemaless_writer``
  / ``schemaless_reader`` on the same records, the reference the generated
  codec must beat;
* ``encode_invalid``: the slow path, a record with a bad field (named in the error).

Each figure is records per wall-clock second and per CPU second, the median of
``--repeat`` runs.

Run:
    python -m fraudstream.bench.serde --count 100000 --repeat 3 --out var/bench/serde.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from fraudstream.errors import SchemaValidationError
from fraudstream.events.contracts import load_reader_schema, load_schema
from fraudstream.events.registry import InProcessRegistry
from fraudstream.events.serde import AvroSerde
from fraudstream.generate.clickstream import ClickstreamConfig, ClickstreamGenerator


def _transactions(n: int) -> list[dict[str, Any]]:
    return [
        {
            "transaction_id": f"tx-{i:012d}",
            "event_time": 1_767_225_600_000 + i * 37,
            "card_id": f"card-{i % 50_000:08d}",
            "account_id": f"acct-{i % 40_000:08d}",
            "customer_id": f"cust-{i % 30_000:08d}",
            "merchant_id": f"merch-{i % 5_000:06d}",
            "merchant_category": ("grocery", "electronics", "travel", "fuel")[i % 4],
            "merchant_country": ("FR", "DE", "US", "GB")[i % 4],
            "customer_country": "FR",
            "amount": round(5 + (i * 7919 % 100_000) / 100, 2),
            "currency": "EUR",
            "channel": ("POS", "ECOM")[i % 2],
            "tx_type": "PURCHASE",
            "device_id": f"dev-{i % 60_000:08d}",
            "ip_address": f"10.{i % 256}.{(i // 256) % 256}.{i % 200}",
            "counterparty_account_id": None,
            "card_last4": f"{i % 10_000:04d}",
            "is_fraud": i % 100 == 0,
            "fraud_scenario": "card_testing" if i % 100 == 0 else None,
        }
        for i in range(n)
    ]


def _time(fn: Callable[[], object], count: int, repeat: int) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return {
        "per_wall_s": round(count / statistics.median(walls)),
        "per_cpu_s": round(count / max(statistics.median(cpus), 1e-9)),
    }


def bench_schema(name: str, records: list[dict[str, Any]], repeat: int) -> dict[str, Any]:
    """Every stage for one schema; returns ``{stage: {per_wall_s, per_cpu_s}}``."""
    serde = AvroSerde(name, InProcessRegistry(), f"{name}-value")
    parsed, reader = load_schema(name), load_reader_schema(name)
    encoded = [serde.encode(r) for r in records]
    bodies = [e[5:] for e in encoded]
    n = len(records)

    def fastavro_encode() -> None:
        for r in records:
            buf = io.BytesIO()
            schemaless_writer(buf, parsed, r)
            buf.getvalue()

    def fastavro_decode() -> None:
        for b in bodies:
            schemaless_reader(io.BytesIO(b), reader, None)

    bad = dict(records[0], **{next(iter(records[0])): 12345})
    n_bad = max(1, n // 20)

    def encode_invalid() -> None:
        for _ in range(n_bad):
            with contextlib.suppress(SchemaValidationError):
                serde.encode(bad)

    encode, decode = serde.encode, serde.decode
    return {
        "serde_encode": _time(lambda: [encode(r) for r in records], n, repeat),
        "serde_decode": _time(lambda: [decode(e) for e in encoded], n, repeat),
        "serde_decode_many": _time(lambda: serde.decode_many(encoded), n, repeat),
        "fastavro_encode": _time(fastavro_encode, n, repeat),
        "fastavro_decode": _time(fastavro_decode, n, repeat),
        "encode_invalid": _time(encode_invalid, n_bad, repeat),
        "bytes_per_record": round(sum(map(len, encoded)) / n, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table and write JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("var/bench/serde.json"))
    args = ap.parse_args(argv)
    clicks = ClickstreamGenerator(ClickstreamConfig(seed=1), start_time_ms=0).take(args.count)
    result: dict[str, Any] = {
        "count": args.count,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "transaction": bench_schema("transaction", _transactions(args.count), args.repeat),
        "user_event": bench_schema("user_event", [c.event for c in clicks], args.repeat),
    }
    for schema in ("transaction", "user_event"):
        print(f"{schema} ({result[schema]['bytes_per_record']} bytes/record)")
        for stage, fig in result[schema].items():
            if isinstance(fig, dict):
                print(
                    f"  {stage:<18} {fig['per_wall_s']:>10,}/s wall {fig['per_cpu_s']:>10,}/s cpu"
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
