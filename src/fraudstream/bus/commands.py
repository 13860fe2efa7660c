"""``fraudstream kafka ...`` (the local broker) and ``fraudstream topics ...``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fraudstream.errors import FraudstreamError
from fraudstream.settings import KafkaSettings, Settings

if TYPE_CHECKING:
    from fraudstream.bus.kafka import KafkaBus
    from fraudstream.bus.local_kafka import LocalKafka

kafka_app = typer.Typer(
    help="A local single-node Kafka broker (KRaft) from the Maven Central jars; no Docker.",
    no_args_is_help=True,
)
topics_app = typer.Typer(help="Create and list the pipeline's Kafka topics.", no_args_is_help=True)

PortOpt = Annotated[
    int | None, typer.Option("--port", help="Broker port (default: from bootstrap_servers).")
]
ControllerOpt = Annotated[
    int | None, typer.Option("--controller-port", help="KRaft controller port.")
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Broker state (default: kafka.local_data_dir).")
]
BootstrapOpt = Annotated[
    str | None, typer.Option("--bootstrap", help="Override kafka.bootstrap_servers.")
]
AdminTimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for the cluster.", min=0.1)
]


def _settings() -> Settings:
    from fraudstream.cli import load_settings

    return load_settings()


def broker_port(kafka: KafkaSettings) -> int:
    """The port of the first ``bootstrap_servers`` entry (the local broker listens there)."""
    first = kafka.bootstrap_servers.split(",")[0].strip()
    try:
        return int(first.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        raise typer.BadParameter(f"cannot read a port from bootstrap_servers={first!r}") from None


def _launcher(port: int | None, controller_port: int | None, data_dir: Path | None) -> LocalKafka:
    from fraudstream.bus.local_kafka import LocalKafka

    k = _settings().kafka
    return LocalKafka(
        data_dir or k.local_data_dir,
        port=port or broker_port(k),
        controller_port=controller_port or k.local_controller_port,
        version=k.kafka_version,
        cache_dir=k.local_cache_dir,
        heap_mb=k.local_heap_mb,
    )


def _fail(exc: FraudstreamError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(code=1)


@kafka_app.command()
def fetch() -> None:
    """Resolve the Kafka broker jars with Maven (cached; a second run does nothing)."""
    try:
        lib = _launcher(None, None, None).fetch()
    except FraudstreamError as exc:
        raise _fail(exc) from exc
    typer.echo(str(lib))


@kafka_app.command()
def start(
    port: PortOpt = None,
    controller_port: ControllerOpt = None,
    data_dir: DataDirOpt = None,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds to wait.")] = 120.0,
) -> None:
    """Start the broker (formatting storage on first use) and wait until it serves."""
    kafka = _launcher(port, controller_port, data_dir)
    try:
        bootstrap = kafka.start(timeout_s=timeout_s)
    except FraudstreamError as exc:
        raise _fail(exc) from exc
    typer.echo(
        f"Kafka {kafka.version} running on {bootstrap} (pid {kafka.pid()}, data {kafka.data_dir})"
    )


@kafka_app.command()
def stop(
    data_dir: DataDirOpt = None,
    timeout_s: Annotated[float, typer.Option("--timeout", help="SIGKILL after.")] = 30.0,
) -> None:
    """Stop the broker: SIGTERM, then SIGKILL after the timeout."""
    kafka = _launcher(None, None, data_dir)
    typer.echo("stopped" if kafka.stop(timeout_s=timeout_s) else "not running")


@kafka_app.command()
def status(data_dir: DataDirOpt = None) -> None:
    """Print whether the broker runs; exit code 1 when it does not."""
    s = _launcher(None, None, data_dir).status()
    if not s.running:
        typer.echo(f"stopped (data {s.data_dir})")
        raise typer.Exit(code=1)
    typer.echo(f"running pid={s.pid} bootstrap={s.bootstrap} data={s.data_dir}")


def _bus(bootstrap: str | None, timeout_s: float) -> KafkaBus:
    from fraudstream.bus.kafka import KafkaBus

    k = _settings().kafka
    if bootstrap:
        k = k.model_copy(update={"bootstrap_servers": bootstrap})
    return KafkaBus(k, timeout_s=timeout_s)


@topics_app.command()
def create(
    bootstrap: BootstrapOpt = None,
    timeout_s: AdminTimeoutOpt = 30.0,
    partitions: Annotated[
        list[str] | None,
        typer.Option("--partitions", "-p", help="NAME=COUNT, overrides the settings; repeatable."),
    ] = None,
) -> None:
    """Create the pipeline's topics idempotently (existing ones are left as they are)."""
    counts = _settings().topics.partition_counts()
    for item in partitions or []:
        name, _, count = item.partition("=")
        if name not in counts or not count.isdigit() or int(count) < 1:
            raise typer.BadParameter(f"expected one of {sorted(counts)}=N, got {item!r}")
        counts[name] = int(count)
    bus = _bus(bootstrap, timeout_s)
    try:
        bus.create_topics(counts)
        existing = bus.list_topics()
    except FraudstreamError as exc:
        raise _fail(exc) from exc
    for name in counts:
        typer.echo(f"{name}\t{existing.get(name, '?')}")


@topics_app.command("list")
def list_(bootstrap: BootstrapOpt = None, timeout_s: AdminTimeoutOpt = 30.0) -> None:
    """List the cluster's topics with their partition counts."""
    try:
        topics = _bus(bootstrap, timeout_s).list_topics()
    except FraudstreamError as exc:
        raise _fail(exc) from exc
    for name, count in topics.items():
        typer.echo(f"{name}\t{count}")
