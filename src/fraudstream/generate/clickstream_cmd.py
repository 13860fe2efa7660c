"""``fraudstream generate clickstream``: the seed's event producer, with fraud bots.

Registered on ``generate_app`` in :mod:`fraudstream.generate.commands`.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer

from fraudstream.errors import FraudstreamError

logger = logging.getLogger(__name__)


def clickstream(
    output: Annotated[str, typer.Option("--output", help="kafka, jsonl or stdout.")] = "kafka",
    path: Annotated[
        Path | None, typer.Option("--path", help="JSONL file (one per worker: name-wN.jsonl).")
    ] = None,
    max_messages: Annotated[
        int | None, typer.Option("--max-messages", min=0, help="Stop after N events per worker.")
    ] = None,
    rate: Annotated[
        float, typer.Option("--rate", min=0.0, help="Events per second per worker (0: max).")
    ] = 100.0,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same stream.")] = 42,
    start_time: Annotated[
        str | None,
        typer.Option("--start-time", help="ISO-8601 time of the first event (default: now)."),
    ] = None,
    new_session_probability: Annotated[
        float, typer.Option("--new-session-probability", min=0.0, max=1.0)
    ] = 0.01,
    returning_user_probability: Annotated[
        float, typer.Option("--returning-user-probability", min=0.0, max=1.0)
    ] = 0.0,
    bot_session_probability: Annotated[
        float,
        typer.Option("--bot-session-probability", min=0.0, max=1.0, help="Fraud-bot sessions."),
    ] = 0.02,
    think_time_ms: Annotated[
        float, typer.Option("--think-time-ms", min=1.0, help="Mean gap between a user's actions.")
    ] = 5000.0,
    log_every: Annotated[
        int, typer.Option("--log-every", min=0, help="Log throughput every N messages.")
    ] = 1000,
    topic: Annotated[
        str | None, typer.Option("--topic", help="Default: topics.user_events.")
    ] = None,
    bootstrap_servers: Annotated[
        str | None, typer.Option("--bootstrap-servers", help="Default: kafka.bootstrap_servers.")
    ] = None,
    timestamps: Annotated[
        str, typer.Option("--timestamps", help="JSON timestamps: millis or iso.")
    ] = "millis",
) -> None:
    """Generate shopper click-stream events (Avro, UUID keys) with labelled fraud bots."""
    from fraudstream.cli import load_settings
    from fraudstream.generate.clickstream import ClickstreamConfig
    from fraudstream.generate.clickstream_run import RunOptions, run_clickstream

    if output not in ("kafka", "jsonl", "stdout"):
        raise typer.BadParameter("must be kafka, jsonl or stdout", param_hint="--output")
    if output == "jsonl" and path is None:
        raise typer.BadParameter("--output jsonl needs --path", param_hint="--path")
    if timestamps not in ("millis", "iso"):
        raise typer.BadParameter("must be millis or iso", param_hint="--timestamps")
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    kafka = settings.kafka
    if bootstrap_servers:
        kafka = kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
    try:
        config = ClickstreamConfig(
            seed=seed,
            new_session_probability=new_session_probability,
            returning_user_probability=returning_user_probability,
            bot_session_probability=bot_session_probability,
            events_per_second=rate if rate > 0 else 1000.0,
            think_time_ms=think_time_ms,
        )
        opts = RunOptions(
            output=_literal_output(output),
            topic=topic or settings.topics.user_events,
            path=path,
            workers=workers,
            rate=rate,
            max_messages=max_messages,
            log_every=log_every,
            start_time_ms=_start_ms(start_time),
            timestamps="iso" if timestamps == "iso" else "millis",
            kafka=kafka,
            create_topic_partitions=settings.topics.user_events_partitions,
        )
        failed = run_clickstream(config, opts)
    except (FraudstreamError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if failed:
        typer.echo(f"{failed} worker(s) had undelivered messages or crashed", err=True)
        raise typer.Exit(1)


def _literal_output(value: str) -> Literal["kafka", "jsonl", "stdout"]:
    if value == "kafka":
        return "kafka"
    return "jsonl" if value == "jsonl" else "stdout"


def _start_ms(text: str | None) -> int:
    if text is None:
        return int(datetime.now(UTC).timestamp()) * 1000
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"not ISO-8601: {text!r}", param_hint="--start-time") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
