"""``fraudstream alerts tail``: live alerts in the terminal, BLOCK in red, REVIEW in yellow.

Reads ``fraud-alerts`` with ``read_committed`` (alerts of aborted scoring
transactions never show) in a throw-away consumer group that starts at the end
of the topic (``--from-beginning`` replays it) and never commits, so tailing
does not disturb any other consumer.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from fraudstream.bus.base import Consumer, Message
from fraudstream.errors import RecordError
from fraudstream.observe.metrics import ALERTS_SEEN

logger = logging.getLogger(__name__)

alerts_app = typer.Typer(help="Live alerts.", no_args_is_help=True)

STYLES = {"BLOCK": "bold white on red", "REVIEW": "bold black on yellow"}
Decode = Callable[[Message], Mapping[str, Any]]


def format_alert(rec: Mapping[str, Any]) -> Text:
    """One alert as a styled line: time, action badge, score, risk, card, amount, reasons.

    Example:
        >>> t = format_alert({"action": "BLOCK", "fraud_score": 0.97, "risk_level": "CRITICAL",
        ...     "transaction_id": "t1", "card_id": "c1", "amount": 12.5, "currency": "EUR",
        ...     "merchant_id": "m1", "reasons": ["rule:x"], "created_at": 0})
        >>> t.plain.split()[1:4], t.spans[0].style
        (['BLOCK', '0.970', 'CRITICAL'], 'bold white on red')
    """
    action = str(rec.get("action", "REVIEW"))
    when = datetime.fromtimestamp(int(rec.get("created_at") or 0) / 1000, tz=UTC)
    line = Text(when.strftime("%H:%M:%S") + " ")
    line.append(f" {action:<6} ", style=STYLES.get(action, "bold"))
    line.append(
        f" {float(rec.get('fraud_score', 0.0)):.3f} {rec.get('risk_level', '?'):<8} "
        f"tx={rec.get('transaction_id')} card={rec.get('card_id')} "
        f"{float(rec.get('amount', 0.0)):.2f} {rec.get('currency', '')} "
        f"merchant={rec.get('merchant_id')} "
    )
    reasons = ", ".join(rec.get("reasons") or [])
    if reasons:
        line.append(reasons, style="dim")
    return line


def tail_alerts(
    consumer: Consumer,
    decode: Decode,
    console: Console,
    *,
    max_alerts: int | None = None,
    idle_exit_s: float | None = None,
    actions: frozenset[str] = frozenset({"BLOCK", "REVIEW"}),
    stop: threading.Event | None = None,
) -> int:
    """Print alerts as they arrive; returns how many were printed."""
    stop = stop or threading.Event()
    printed = 0
    idle_since = time.monotonic()
    while not stop.is_set():
        msgs = consumer.poll_batch(500, 0.2)
        if msgs:
            idle_since = time.monotonic()
        for msg in msgs:
            try:
                rec = decode(msg)
            except RecordError as exc:
                console.print(Text(f"undecodable alert {msg.topic}[{msg.partition}]@{msg.offset}: "
                                   f"{exc}", style="magenta"))  # fmt: skip
                continue
            action = str(rec.get("action"))
            if action not in actions:
                continue
            console.print(format_alert(rec))
            ALERTS_SEEN.labels(action=action).inc()
            printed += 1
            if max_alerts is not None and printed >= max_alerts:
                return printed
        if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
            break
    return printed


@alerts_app.command("tail")
def tail_command(
    max_alerts: Annotated[int | None, typer.Option("--max", help="stop after N alerts")] = None,
    from_beginning: Annotated[
        bool, typer.Option(help="replay the topic instead of starting at its end")
    ] = False,
    block_only: Annotated[bool, typer.Option(help="BLOCK alerts only")] = False,
    idle_exit_s: Annotated[float | None, typer.Option(help="exit after this long idle")] = None,
) -> None:
    """Print live alerts (fraud-alerts, read_committed): BLOCK red, REVIEW yellow."""
    import signal

    from fraudstream.bus import open_bus
    from fraudstream.cli import load_settings
    from fraudstream.events.contracts import ALERT
    from fraudstream.events.registry import open_registry
    from fraudstream.pipeline.wiring import register_all, serde_for

    s = load_settings()
    bus = open_bus(s)
    if s.bus == "memory":  # a fresh in-process bus has no topics (Kafka: `topics create`)
        bus.create_topics(s.topics.partition_counts())
    registry = open_registry(s.kafka)
    register_all(registry, s.topics)
    serde = serde_for(ALERT, s.topics.alerts, registry)
    consumer = bus.consumer(
        f"fraudstream-tail-{uuid.uuid4().hex[:8]}",
        read_committed=True,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    consumer.subscribe([s.topics.alerts])
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        tail_alerts(
            consumer,
            lambda m: serde.decode(m.value),
            Console(),
            max_alerts=max_alerts,
            idle_exit_s=idle_exit_s,
            actions=frozenset({"BLOCK"}) if block_only else frozenset({"BLOCK", "REVIEW"}),
            stop=stop,
        )
    finally:
        consumer.close()
