"""Helpers for the bus integration tests."""

from __future__ import annotations

import time

from fraudstream.bus.base import Consumer, Message


def consume(consumer: Consumer, n: int, timeout_s: float = 30.0) -> list[Message]:
    """Poll until ``n`` records arrived or ``timeout_s`` passed; return what came."""
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        out.extend(consumer.poll_batch(n - len(out), 0.2))
    return out


def consume_for(consumer: Consumer, seconds: float) -> list[Message]:
    """Poll for ``seconds``, collecting everything (to show that nothing arrives)."""
    out: list[Message] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out.extend(consumer.poll_batch(1000, 0.2))
    return out
