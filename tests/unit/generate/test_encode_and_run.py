"""The columnar Avro encoder, the sinks, the runner and the CLI command."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import fastavro
import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.errors import ConfigError
from fraudstream.generate.encode import TransactionEncoder, zigzag
from fraudstream.generate.runner import Pacer, RunSpec, generate
from fraudstream.generate.transactions import TransactionGenerator, format_ids

from .conftest import small_config

SCHEMA = fastavro.parse_schema(
    json.loads(
        (Path(__file__).parents[3] / "src/fraudstream/events/schemas/transaction.avsc").read_text()
    )
)


def test_columnar_encoder_writes_exactly_what_fastavro_writes() -> None:
    gen = TransactionGenerator(small_config(fraud_rate=0.05))
    enc = TransactionEncoder(gen.ids, schema_id=7)
    n = 0
    for cols, raw in gen.column_batches(6000):
        keys, values = enc.encode(cols, raw)
        for rec, key, value in zip(
            gen.ids.to_records(cols, format_ids(raw)), keys, values, strict=True
        ):
            buf = io.BytesIO()
            buf.write(b"\x00\x00\x00\x00\x07")
            fastavro.schemaless_writer(buf, SCHEMA, rec)
            assert value == buf.getvalue()
            assert key == rec["card_id"].encode()
            n += 1
    assert n == 6000


def test_zigzag_of_longs() -> None:
    assert zigzag(1_767_225_600_000) == fastavro_long(1_767_225_600_000)
    assert zigzag(-3) == b"\x05"


def fastavro_long(n: int) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, {"type": "long"}, n)
    return buf.getvalue()


def test_jsonl_with_two_workers_is_complete_and_reproducible(tmp_path: Path) -> None:
    spec = RunSpec(
        config=small_config(), count=5001, workers=2, output="jsonl", path=tmp_path / "tx.jsonl"
    )
    report = generate(spec)
    assert report.records == 5001 and report.failed == 0
    files = sorted(tmp_path.glob("tx-w*.jsonl"))
    assert [f.name for f in files] == ["tx-w0.jsonl", "tx-w1.jsonl"]
    first = [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]
    assert len(first) == 5001
    generate(spec)
    again = [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]
    assert again == first


def test_stdout_takes_one_worker() -> None:
    with pytest.raises(ConfigError):
        generate(RunSpec(config=small_config(), count=10, workers=2, output="stdout"))
    with pytest.raises(ConfigError, match="needs --path"):
        generate(RunSpec(config=small_config(), count=10, output="jsonl"))


def test_pacer_holds_the_rate() -> None:
    pacer = Pacer(2000.0)
    start = time.monotonic()
    for _ in range(9):
        pacer.wait(50)
    assert time.monotonic() - start >= 400 / 2000 * 0.9


def test_paced_run_takes_as_long_as_the_rate_says(tmp_path: Path) -> None:
    spec = RunSpec(
        config=small_config(), count=600, rate=2000.0, output="jsonl", path=tmp_path / "p.jsonl"
    )
    start = time.monotonic()
    generate(spec)
    assert time.monotonic() - start >= 0.25
    assert len((tmp_path / "p.jsonl").read_bytes().splitlines()) == 600


def test_cli_generates_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl"
    res = CliRunner().invoke(
        app,
        [
            "generate",
            "transactions",
            "--count",
            "300",
            "--output",
            "jsonl",
            "--path",
            str(out),
            "--customers",
            "500",
            "--seed",
            "3",
            "--fraud-rate",
            "0.05",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert len(rows) == 300 and any(r["is_fraud"] for r in rows)
    times = np.array([r["event_time"] for r in rows])
    assert (np.diff(times) >= 0).all()


def test_pipelined_kafka_write_hands_generator_errors_to_the_caller() -> None:
    from collections.abc import Iterator

    from fraudstream.generate.sinks import KafkaSink
    from fraudstream.settings import KafkaSettings

    gen = TransactionGenerator(small_config())
    # No broker: records only queue locally, which is all this test needs.
    sink = KafkaSink(gen.ids, KafkaSettings(bootstrap_servers="127.0.0.1:1"), "t")

    def chunks() -> Iterator[tuple[object, object]]:
        yield from gen.column_batches(2000)
        raise ValueError("generator broke")

    try:
        with pytest.raises(ValueError, match="generator broke"):
            sink.write_many(chunks())  # type: ignore[arg-type]
        assert sink.produced == 2000
    finally:
        sink._producer.purge()
