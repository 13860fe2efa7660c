"""``fraudstream generate ...``: synthetic traffic for the pipeline.

``transactions`` lives here; other simulators (click-stream) add their command
to the same ``generate_app``.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fraudstream.errors import FraudstreamError
from fraudstream.generate.clickstream_cmd import clickstream

generate_app = typer.Typer(
    help="Simulated traffic: transactions with labelled fraud, click-streams.",
    no_args_is_help=True,
)
generate_app.command("clickstream")(clickstream)


class Output(StrEnum):
    kafka = "kafka"
    jsonl = "jsonl"
    stdout = "stdout"


@generate_app.command("transactions")
def transactions(
    count: Annotated[int, typer.Option("--count", min=0, help="Records to generate.")] = 100_000,
    rate: Annotated[
        float, typer.Option("--rate", min=0.0, help="Records per second (0: as fast as possible).")
    ] = 0.0,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    seed: Annotated[int | None, typer.Option("--seed", help="Default: generator.seed.")] = None,
    fraud_rate: Annotated[
        float | None,
        typer.Option("--fraud-rate", min=0.0, max=0.49, help="Default: generator.fraud_rate."),
    ] = None,
    customers: Annotated[
        int | None, typer.Option("--customers", min=50, help="Default: generator.n_customers.")
    ] = None,
    output: Annotated[Output, typer.Option("--output", help="Where records go.")] = Output.kafka,
    path: Annotated[
        Path | None, typer.Option("--path", help="JSONL file (one per worker: name-wN.jsonl).")
    ] = None,
    bootstrap_servers: Annotated[
        str | None, typer.Option("--bootstrap-servers", help="Default: kafka.bootstrap_servers.")
    ] = None,
    topic: Annotated[
        str | None, typer.Option("--topic", help="Default: topics.transactions.")
    ] = None,
) -> None:
    """Generate transactions with injected, labelled fraud (same seed, same stream)."""
    from fraudstream.cli import load_settings
    from fraudstream.generate.runner import RunSpec, generate

    settings = load_settings()
    updates: dict[str, object] = {}
    if seed is not None:
        updates["seed"] = seed
    if fraud_rate is not None:
        updates["fraud_rate"] = fraud_rate
    if customers is not None:
        updates["n_customers"] = customers
    config = settings.generator.model_copy(update=updates)
    kafka = settings.kafka
    if bootstrap_servers:
        kafka = kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
    spec = RunSpec(
        config=config,
        count=count,
        rate=rate,
        workers=workers,
        output=output.value,
        path=path,
        kafka=kafka,
        topic=topic or settings.topics.transactions,
        partitions=settings.topics.transactions_partitions,
    )
    try:
        report = generate(spec)
    except FraudstreamError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    # The summary goes to stderr: with --output stdout, stdout is the data.
    print(
        f"generated {report.records} transactions ({report.fraud} fraud: "
        + ", ".join(f"{k}={v}" for k, v in report.by_scenario.items())
        + f") in {report.seconds:.2f}s = {report.records_per_s:,.0f}/s; "
        f"not delivered: {report.failed}",
        file=sys.stderr,
    )
    if report.failed:
        raise typer.Exit(1)
