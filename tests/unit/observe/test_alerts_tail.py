"""``alerts tail`` on the memory bus: committed alerts only, BLOCK red, REVIEW yellow."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from typer.testing import CliRunner

from fraudstream.bus.memory import MemoryBus
from fraudstream.cli import app
from fraudstream.events.registry import InProcessRegistry
from fraudstream.events.serde import AvroSerde
from fraudstream.observe.alerts_tail import tail_alerts


def _alert(tx: str, action: str, score: float) -> dict[str, Any]:
    return {
        "transaction_id": tx, "card_id": "card-1", "amount": 99.5, "currency": "EUR",
        "merchant_id": "m-7", "fraud_score": score,
        "risk_level": "CRITICAL" if action == "BLOCK" else "HIGH", "action": action,
        "reasons": ["rule:velocity"], "model_version": "v1", "created_at": 1_700_000_000_000,
        "event_time": None,
    }  # fmt: skip


def _setup() -> tuple[MemoryBus, AvroSerde]:
    bus = MemoryBus()
    bus.create_topics({"fraud-alerts": 3})
    serde = AvroSerde("alert", InProcessRegistry(), "fraud-alerts-value")
    producer = bus.transactional_producer("scorer")
    producer.begin()
    producer.produce("fraud-alerts", serde.encode(_alert("t-block", "BLOCK", 0.97)), b"card-1")
    producer.produce("fraud-alerts", serde.encode(_alert("t-review", "REVIEW", 0.71)), b"card-1")
    producer.commit()
    producer.begin()
    producer.produce("fraud-alerts", serde.encode(_alert("t-aborted", "BLOCK", 0.99)), b"card-1")
    producer.abort()
    bus.producer().produce("fraud-alerts", b"\x00garbage", b"card-2")
    return bus, serde


def test_tail_prints_committed_alerts_in_colour() -> None:
    bus, serde = _setup()
    consumer = bus.consumer("tail", read_committed=True)
    consumer.subscribe(["fraud-alerts"])
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=200)
    n = tail_alerts(consumer, lambda m: serde.decode(m.value), console, idle_exit_s=0.3)
    assert n == 2
    lines = out.getvalue().splitlines()
    block = next(ln for ln in lines if "t-block" in ln)
    review = next(ln for ln in lines if "t-review" in ln)
    assert "41m" in block and "43m" not in block  # red background
    assert "43m" in review and "41m" not in review  # yellow background
    assert not any("t-aborted" in ln for ln in lines)  # read_committed
    assert any("undecodable alert" in ln for ln in lines)  # shown, not dropped silently


def test_tail_max_and_block_only() -> None:
    bus, serde = _setup()
    consumer = bus.consumer("tail2", read_committed=True)
    consumer.subscribe(["fraud-alerts"])
    out = io.StringIO()
    n = tail_alerts(
        consumer, lambda m: serde.decode(m.value), Console(file=out, width=200),
        max_alerts=1, actions=frozenset({"REVIEW"}),
    )  # fmt: skip
    assert n == 1 and "t-review" in out.getvalue() and "t-block" not in out.getvalue()


def test_tail_command_runs_on_the_memory_bus() -> None:
    res = CliRunner().invoke(app, ["alerts", "tail", "--idle-exit-s", "0.2"])
    assert res.exit_code == 0, res.output
