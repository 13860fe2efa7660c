"""``fraudstream learn``: the feedback -> online model updater as a long-running service."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fraudstream.bus.base import Bus
    from fraudstream.learn.online import OnlineLearner
    from fraudstream.settings import Settings

logger = logging.getLogger(__name__)


def build_learner(settings: Settings, bus: Bus | None = None) -> OnlineLearner:
    """The learner over ``settings``: feedback consumer, scores-table lookup, registry."""
    from fraudstream.bus import open_bus
    from fraudstream.bus.base import Message
    from fraudstream.detect.registry import ModelRegistry
    from fraudstream.events.contracts import FEEDBACK
    from fraudstream.events.registry import open_registry
    from fraudstream.learn.online import DbFeatureLookup, OnlineLearner
    from fraudstream.pipeline.wiring import register_all, serde_for
    from fraudstream.store.db import make_engine

    the_bus = bus if bus is not None else open_bus(settings)
    t = settings.topics
    registry = open_registry(settings.kafka)
    register_all(registry, t)
    serde = serde_for(FEEDBACK, t.feedback, registry)

    def decode(msg: Message) -> dict[str, object]:
        return serde.decode(msg.value)

    ol = settings.online_learning
    consumer = the_bus.consumer(ol.group_id, read_committed=True)
    consumer.subscribe([t.feedback])
    return OnlineLearner(
        consumer,
        decode,
        DbFeatureLookup(make_engine(settings.database)),
        ModelRegistry(settings.model_dir),
        ol,
    )


def learn_command(
    idle_exit_s: Annotated[
        float | None, typer.Option(help="Exit after this long without feedback.")
    ] = None,
    max_updates: Annotated[
        int | None, typer.Option(help="Exit after saving this many model versions.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Learn from analysts' verdicts (topic feedback) and hot-swap the online model."""
    from fraudstream.cli import load_settings
    from fraudstream.observe.logging import configure_logging
    from fraudstream.observe.metrics import serve_metrics

    settings = load_settings()
    configure_logging(settings.log_level, json_logs=settings.log_json)
    port = metrics_port or settings.online_learning.metrics_port
    if port:
        serve_metrics(port, addr=settings.metrics_host)
    learner = build_learner(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stats = learner.run(stop, idle_exit_s=idle_exit_s, max_updates=max_updates)
    learner.close()
    typer.echo(
        f"learn: {stats.received} verdicts, {stats.applied} applied, {stats.updates} versions "
        f"({', '.join(stats.versions) or 'none'}), {stats.no_features} without features, "
        f"{stats.invalid} invalid"
    )
