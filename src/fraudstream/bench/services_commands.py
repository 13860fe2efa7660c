"""``fraudstream bench ingest`` and ``fraudstream bench sink`` (registered in ``commands.py``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import typer


@contextlib.contextmanager
def _maybe_broker(bus: str, bootstrap: str | None) -> Iterator[str | None]:
    if bus != "kafka":
        yield None
        return
    from fraudstream.bench.commands import broker

    with broker(bootstrap) as bs:
        yield bs


def ingest_command(
    bus: Annotated[
        str, typer.Option(help="memory or kafka (a local broker unless --bootstrap).")
    ] = "kafka",
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
    database_url: Annotated[str | None, typer.Option(help="Default: a fresh SQLite file.")] = None,
    duration_s: Annotated[int, typer.Option(help="Seconds of load.")] = 20,
    connections: Annotated[int, typer.Option(help="wrk connections.")] = 32,
    threads: Annotated[int, typer.Option(help="wrk threads.")] = 1,
    out: Annotated[Path, typer.Option(help="JSON output.")] = Path("reports/bench-ingest.json"),
) -> None:
    """POST /api/v1/payments on one uvicorn process, driven by wrk (apt-get install wrk)."""
    from fraudstream.bench.commands import _write
    from fraudstream.bench.ingest import run_ingest_bench

    logging.basicConfig(level=logging.WARNING)
    with _maybe_broker(bus, bootstrap) as bs:
        figures = run_ingest_bench(
            bus=bus,
            bootstrap=bs,
            database_url=database_url,
            duration_s=duration_s,
            connections=connections,
            threads=threads,
        )
    typer.echo(figures.pop("wrk_output"))
    for k, v in figures.items():
        typer.echo(f"{k}: {v}")
    _write(out, figures)


def sink_bench_command(
    database_url: Annotated[str, typer.Option(help="The database (PostgreSQL for the figure).")],
    bus: Annotated[
        str, typer.Option(help="kafka (a local broker unless --bootstrap) or memory.")
    ] = "kafka",
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
    records: Annotated[
        int, typer.Option(help="Scored transactions (every 20th an alert).")
    ] = 100_000,
    rate: Annotated[
        float, typer.Option(help="Produce at this rate while sinking (0: preload).")
    ] = 0.0,
    outage_s: Annotated[
        float, typer.Option(help="Stop the database this long (0: no outage).")
    ] = 0.0,
    outage_at_s: Annotated[float, typer.Option(help="Seconds into the run to stop it.")] = 10.0,
    stop_cmd: Annotated[str, typer.Option(help="Shell command that stops the database.")] = "",
    start_cmd: Annotated[str, typer.Option(help="Shell command that starts it again.")] = "",
    out: Annotated[Path, typer.Option(help="JSON output.")] = Path("reports/bench-sink.json"),
) -> None:
    """Scored records/s into the database; with --outage-s, the outage drill (exactly once)."""
    from fraudstream.bench.commands import _write
    from fraudstream.bench.sink import Outage, run_sink_bench
    from fraudstream.settings import Settings

    logging.basicConfig(level=logging.WARNING)
    outage = None
    if outage_s > 0:
        if not (stop_cmd and start_cmd):
            raise typer.BadParameter("--outage-s needs --stop-cmd and --start-cmd")
        outage = Outage.from_shell(outage_at_s, outage_s, stop_cmd, start_cmd)
    the_bus: Literal["memory", "kafka"] = "kafka" if bus == "kafka" else "memory"
    with _maybe_broker(bus, bootstrap) as bs:
        kafka = {"bootstrap_servers": bs} if bs else {}
        settings = Settings(bus=the_bus, database={"url": database_url}, kafka=kafka)
        figures = run_sink_bench(settings, records, rate=rate, outage=outage, timeout_s=900)
    for k, v in figures.items():
        typer.echo(f"{k}: {v}")
    _write(out, figures)
    if not figures["exactly_once"]:
        raise typer.Exit(1)
