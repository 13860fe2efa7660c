"""``fraudstream bench ...``: benchmark commands (each prints figures and writes JSON).

Areas add their own commands to :data:`bench_app`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="Benchmarks (print figures, write JSON).", no_args_is_help=True)

BootstrapOpt = Annotated[
    str | None,
    typer.Option(help="Kafka bootstrap servers; default: start a throwaway local broker."),
]


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    """Use ``bootstrap``, or start a local KRaft broker on free ports for the run."""
    if bootstrap:
        yield bootstrap
        return
    import tempfile

    from fraudstream.bus.local_kafka import LocalKafka, free_port
    from fraudstream.settings import KafkaSettings

    d = KafkaSettings()
    port, cport = free_port(), free_port()
    kafka = LocalKafka(
        Path(tempfile.mkdtemp(prefix="fraudstream-bench-kafka-")),
        port=port,
        controller_port=cport,
        version=d.kafka_version,
        cache_dir=d.local_cache_dir,
        heap_mb=max(d.local_heap_mb, 768),
    )
    typer.echo(f"starting a local broker on {kafka.bootstrap} ...")
    kafka.start(timeout_s=240.0)
    try:
        yield kafka.bootstrap
    finally:
        kafka.stop(timeout_s=30.0)


def _write(out: Path, figures: dict[str, object]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    typer.echo(f"wrote {out}")


@bench_app.command("pipeline")
def pipeline(
    bootstrap: BootstrapOpt = None,
    records: Annotated[int, typer.Option(help="Input records per throughput run.")] = 200_000,
    baseline_records: Annotated[int, typer.Option(help="Input of the seed-style run.")] = 20_000,
    latency_rate: Annotated[
        list[int] | None, typer.Option(help="Records/s of a latency run (repeatable).")
    ] = None,
    latency_seconds: Annotated[float, typer.Option(help="Length of the latency run.")] = 20.0,
    only: Annotated[
        str | None, typer.Option(help="Run one part: throughput, baseline, scaling or latency.")
    ] = None,
    repeat: Annotated[int, typer.Option(help="Latency runs per rate (median reported).")] = 1,
    trace: Annotated[bool, typer.Option(help="Latency: per-commit stage trace.")] = False,
    out: Annotated[Path, typer.Option(help="JSON output.")] = Path("reports/bench-pipeline.json"),
) -> None:
    """EOS throughput (1 and 2 workers), the seed-style baseline, latency at a fixed rate."""
    from fraudstream.bench.pipeline import PARTS, run_bench

    if only is not None and only not in PARTS:
        raise typer.BadParameter(f"--only must be one of {', '.join(PARTS)}")
    logging.basicConfig(level=logging.WARNING)
    with broker(bootstrap) as bs:
        figures = run_bench(
            bs,
            records=records,
            baseline_records=baseline_records,
            latency_rates=tuple(latency_rate or [5000]),
            latency_seconds=latency_seconds,
            parts=PARTS if only is None else (only,),
            repeat=repeat,
            trace=trace,
        )
    for k, v in figures.items():
        typer.echo(f"{k}: {v}")
    _write(out, figures)


@bench_app.command("chaos")
def chaos(
    bootstrap: BootstrapOpt = None,
    records: Annotated[int, typer.Option(help="Transactions with unique ids.")] = 100_000,
    workers: Annotated[int, typer.Option(help="fraudstream score processes.")] = 2,
    kills: Annotated[int, typer.Option(help="kill -9 this many times.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the kill schedule and input.")] = 7,
    rate: Annotated[int, typer.Option(help="Input records/s while killing.")] = 2500,
    out: Annotated[Path, typer.Option(help="JSON output.")] = Path("reports/bench-chaos.json"),
) -> None:
    """Exactly-once under kill -9: prints lost=0 duplicated=0 when the pipeline is right."""
    from fraudstream.bench.chaos import run_chaos

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with broker(bootstrap) as bs:
        result = run_chaos(bs, records=records, workers=workers, kills=kills, seed=seed, rate=rate)
    typer.echo(
        f"records={result.records} workers={result.workers} kills={result.kills} "
        f"elapsed={result.elapsed_s}s\n"
        f"lost={result.lost} duplicated={result.duplicated}\n"
        f"alerts expected={result.alerts_expected} unique={result.alerts_unique} "
        f"lost={result.alerts_lost} duplicated={result.alerts_duplicated} "
        f"unexpected={result.alerts_unexpected}\n"
        f"state keys={result.state_keys} mismatches={result.state_mismatches} "
        f"feature mismatches={result.feature_mismatches}\n"
        f"{'OK: exactly once' if result.ok else 'FAILED'}"
    )
    _write(out, result.as_dict())
    if not result.ok:
        raise typer.Exit(1)


@bench_app.command("scoring")
def scoring(
    records: Annotated[
        int, typer.Option(help="Transactions timed (after as many warm-up).")
    ] = 100_000,
    train_records: Annotated[int, typer.Option(help="Transactions the model trains on.")] = 100_000,
    batch_size: Annotated[int, typer.Option(help="Transactions per detector call.")] = 512,
    model: Annotated[
        str,
        typer.Option(
            help="'ensemble' (the served recipe), 'gbm300' (old bench model) or 'lightgbm'."
        ),
    ] = "ensemble",
    seed: Annotated[int, typer.Option(help="Generator and model seed.")] = 7,
    core: Annotated[int, typer.Option(help="CPU core to pin to (-1: no pinning).")] = 0,
    out: Annotated[Path, typer.Option(help="JSON output.")] = Path("reports/bench-scoring.json"),
) -> None:
    """Features + rules + ensemble on batches of 512 on one core: throughput and p99."""
    import os

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # one core: no hidden thread pools in numpy or the tree libs
    from fraudstream.bench.scoring import run_bench

    logging.basicConfig(level=logging.WARNING)
    figures = run_bench(
        records=records,
        train_records=train_records,
        batch_size=batch_size,
        seed=seed,
        model_kind=model,
        core=None if core < 0 else core,
    )
    for k, v in figures.items():
        typer.echo(f"{k}: {v}")
    _write(out, figures)


@bench_app.command("generator")
def generator(
    bootstrap: BootstrapOpt = None,
    count: Annotated[int, typer.Option(help="Records per stage.")] = 500_000,
    customers: Annotated[int, typer.Option(help="Population size.")] = 100_000,
    kafka: Annotated[bool, typer.Option(help="Include the produce-to-a-real-broker stage.")] = True,
    repeat: Annotated[int, typer.Option(help="Runs per stage (the median is reported).")] = 1,
    out: Annotated[Path, typer.Option(help="JSON output.")] = Path("reports/bench-generator.json"),
) -> None:
    """Transaction generator, one worker: generation, + Avro encode, + produce to a real broker."""
    from fraudstream.bench.generator import print_report, run

    logging.basicConfig(level=logging.WARNING)
    if kafka:
        with broker(bootstrap) as bs:
            figures = run(count, customers, bs, repeat=repeat)
    else:
        figures = run(count, customers, None, repeat=repeat)
    print_report(figures)
    _write(out, figures)


from fraudstream.bench.services_commands import ingest_command, sink_bench_command  # noqa: E402

bench_app.command("ingest")(ingest_command)
bench_app.command("sink")(sink_bench_command)
