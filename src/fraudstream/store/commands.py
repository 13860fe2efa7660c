"""``fraudstream db ...`` and ``fraudstream sink``: thin commands over the store library."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer

from fraudstream.bus.base import Bus, Message
from fraudstream.errors import BusError, FraudstreamError
from fraudstream.settings import Settings

if TYPE_CHECKING:
    from fraudstream.store.sink import Sink

logger = logging.getLogger(__name__)

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


def _settings() -> Settings:
    from fraudstream.cli import load_settings

    return load_settings()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the database (``database.url``) up to ``revision``."""
    from fraudstream.store.db import make_engine
    from fraudstream.store.migrate import current_revision, upgrade

    settings = _settings()
    engine = make_engine(settings.database)
    upgrade(engine, revision)
    typer.echo(f"database {engine.url.render_as_string()} at revision {current_revision(engine)}")
    engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one shipped."""
    from fraudstream.store.db import make_engine
    from fraudstream.store.migrate import current_revision, head_revision

    engine = make_engine(_settings().database)
    typer.echo(f"current={current_revision(engine)} head={head_revision()}")
    engine.dispose()


def build_sink(settings: Settings, bus: Bus | None = None) -> tuple[Sink, Bus]:
    """The sink (and the bus it reads) from settings; used by the command and benchmarks."""
    from fraudstream.bus import open_bus
    from fraudstream.events.contracts import ALERT, DEAD_LETTER, FEEDBACK, SCORED_TRANSACTION
    from fraudstream.events.registry import open_registry
    from fraudstream.pipeline.dlq import dead_letter_record
    from fraudstream.pipeline.wiring import register_all, serde_for
    from fraudstream.store.db import make_engine
    from fraudstream.store.sink import Sink, SinkTopics

    the_bus = bus if bus is not None else open_bus(settings)
    t = settings.topics
    registry = open_registry(settings.kafka)
    register_all(registry, t)
    serdes = {
        t.scores: serde_for(SCORED_TRANSACTION, t.scores, registry),
        t.alerts: serde_for(ALERT, t.alerts, registry),
        t.feedback: serde_for(FEEDBACK, t.feedback, registry),
    }

    def decode(msg: Message) -> dict[str, object]:
        return serdes[msg.topic].decode(msg.value)

    dlq_serde = serde_for(DEAD_LETTER, t.dead_letter, registry)
    dlq_producer = the_bus.producer()

    def dead_letter(msg: Message, err: FraudstreamError) -> None:
        logger.error(
            "sink: dead-lettering %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, err
        )
        record = dead_letter_record(msg, err, int(time.time() * 1000), worker="sink")
        dlq_producer.produce(t.dead_letter, dlq_serde.encode(record), key=msg.key)

    def flush_dead_letters() -> None:
        if dlq_producer.flush(30.0):
            raise BusError("dead letters not delivered within 30 s")

    db = settings.database
    topics = SinkTopics(scores=t.scores, alerts=t.alerts, feedback=t.feedback)
    consumer = the_bus.consumer(db.sink_group_id, read_committed=True)
    consumer.subscribe(topics.all())
    sink = Sink(
        make_engine(db),
        consumer,
        decode,
        topics=topics,
        batch_records=db.sink_batch_records,
        poll_timeout_s=db.sink_poll_timeout_s,
        backoff_initial_s=db.sink_backoff_initial_s,
        backoff_max_s=db.sink_backoff_max_s,
        dead_letter=dead_letter,
        flush_dead_letters=flush_dead_letters,
    )
    return sink, the_bus


def sink_command(
    migrate: Annotated[bool, typer.Option(help="Run the migrations first.")] = True,
    idle_exit_s: Annotated[
        float | None, typer.Option(help="Exit after this long without records.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus /metrics on this port.")
    ] = None,
) -> None:
    """Store fraud-scores, fraud-alerts and feedback in the database (until Ctrl-C)."""
    from fraudstream.store.db import make_engine
    from fraudstream.store.migrate import upgrade

    settings = _settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if metrics_port:
        from fraudstream.observe.metrics import serve_metrics

        serve_metrics(metrics_port, addr=settings.metrics_host)
    if migrate:
        engine = make_engine(settings.database)
        upgrade(engine)
        engine.dispose()
    sink, _bus = build_sink(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stats = sink.run(stop, idle_exit_s=idle_exit_s)
    sink.consumer.close()
    typer.echo(
        f"sink: {stats.records} records in {stats.batches} batches, "
        f"{stats.db_retries} database retries, {stats.bad_records} bad records"
    )
