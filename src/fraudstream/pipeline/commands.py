"""CLI of the pipeline: ``fraudstream score``, ``fraudstream run``, ``fraudstream dlq``.

Thin commands over :mod:`fraudstream.pipeline.service`, :mod:`.dlq` and :mod:`.live`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Annotated, Any

import typer

from fraudstream.errors import FraudstreamError
from fraudstream.settings import Settings

logger = logging.getLogger(__name__)

dlq_app = typer.Typer(help="Inspect and replay the dead-letter topic.", no_args_is_help=True)


def _settings(**pipeline: Any) -> Settings:
    s = Settings()
    updates = {k: v for k, v in pipeline.items() if v is not None}
    if updates:
        s.pipeline = s.pipeline.model_copy(update=updates)
    return s


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        logger.info("signal %d: finishing the open transaction and stopping", signum)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def score(
    worker_id: Annotated[
        str | None, typer.Option(help="Stable worker id (transactional id).")
    ] = None,
    group_id: Annotated[str | None, typer.Option(help="Consumer group of the workers.")] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
    codec: Annotated[str | None, typer.Option(help="avro or json.")] = None,
    detector: Annotated[str | None, typer.Option(help="Scorer key, e.g. amount-rule.")] = None,
    max_batch_records: Annotated[int | None, typer.Option(help="Commit after N records.")] = None,
    commit_interval_ms: Annotated[int | None, typer.Option(help="Commit every N ms.")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve /metrics here.")] = None,
    idle_exit_s: Annotated[
        float | None, typer.Option(help="Stop after this long without input.")
    ] = None,
) -> None:
    """Run one exactly-once scoring worker on Kafka (transactions -> fraud-scores/alerts)."""
    from fraudstream.bus.kafka import KafkaBus
    from fraudstream.pipeline.service import run_worker

    s = _settings(
        worker_id=worker_id,
        group_id=group_id,
        codec=codec,
        detector=detector,
        max_batch_records=max_batch_records,
        commit_interval_ms=commit_interval_ms,
        metrics_port=metrics_port,
    )
    if bootstrap:
        s.kafka = s.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    _logging(s)
    if s.pipeline.metrics_port:
        from fraudstream.observe.metrics import serve_metrics

        serve_metrics(s.pipeline.metrics_port, addr=s.metrics_host)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        stats = run_worker(KafkaBus(s.kafka), s, stop, idle_exit_s=idle_exit_s)
    except FraudstreamError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"worker {s.pipeline.worker_id}: {stats.exit_reason}; consumed={stats.consumed} "
        f"scored={stats.scored} alerts={stats.alerts} dead_letters={stats.dead_letters} "
        f"commits={stats.commits} aborts={stats.aborts} restored={stats.restored} "
        f"busy_wall_s={stats.busy_wall_s:.2f} busy_cpu_s={stats.busy_cpu_s:.2f}"
    )
    if stats.exit_reason in ("fenced", "fatal"):
        raise typer.Exit(3)


def _dlq_bus(bootstrap: str | None) -> tuple[Settings, Any]:
    from fraudstream.bus.kafka import KafkaBus

    s = Settings()
    if bootstrap:
        s.kafka = s.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    return s, KafkaBus(s.kafka)


def _dead_letter_decoder(s: Settings) -> Any:
    from fraudstream.events.registry import open_registry
    from fraudstream.pipeline.wiring import avro_decoder, register_all, serde_for

    reg = open_registry(s.kafka)
    register_all(reg, s.topics)
    return avro_decoder(serde_for("dead_letter", s.topics.dead_letter, reg))


@dlq_app.command("list")
def dlq_list(
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    limit: Annotated[int, typer.Option(help="Show at most N.")] = 50,
) -> None:
    """List dead letters (committed ones) with reason, origin and error."""
    from collections import Counter

    from fraudstream.pipeline.dlq import read_dead_letters

    s, bus = _dlq_bus(bootstrap)
    counts: Counter[str] = Counter()
    shown = 0
    for _msg, rec in read_dead_letters(bus, s.topics.dead_letter, _dead_letter_decoder(s)):
        counts[rec["reason"]] += 1
        if (reason is None or rec["reason"] == reason) and shown < limit:
            shown += 1
            typer.echo(
                f"{rec['source_topic']}[{rec['source_partition']}]@{rec['source_offset']} "
                f"{rec['reason']} {rec['error_class']} field={rec['field']}: "
                f"{rec['error_message'][:120]}"
            )
    typer.echo("by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


@dlq_app.command("replay")
def dlq_replay(
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
    reason: Annotated[str, typer.Option(help="Replay dead letters with this reason.")] = (
        "scoring_failed"
    ),
    dry_run: Annotated[bool, typer.Option(help="Only count what would be sent.")] = False,
) -> None:
    """Send the original bytes of dead letters with REASON back to their source topic.

    Use it once the cause is fixed (a scorer bug, a missing schema); records that
    are themselves bad would only come back to the dead-letter topic.
    """
    from fraudstream.pipeline.dlq import read_dead_letters, replay

    s, bus = _dlq_bus(bootstrap)
    letters = [
        rec
        for _m, rec in read_dead_letters(bus, s.topics.dead_letter, _dead_letter_decoder(s))
        if rec["reason"] == reason
    ]
    if dry_run:
        typer.echo(f"would replay {len(letters)} dead letters with reason {reason}")
        return
    typer.echo(f"replayed {replay(bus, letters)} dead letters with reason {reason}")


def register(app: typer.Typer) -> None:
    """Add ``score``, ``run`` and ``dlq`` to the root command."""
    app.command("score")(score)
    app.add_typer(dlq_app, name="dlq")
    from fraudstream.pipeline.live import run

    app.command("run")(run)
