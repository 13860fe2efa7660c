"""The seed-style consumer, for comparison: JSON, one synchronous commit per message.

This reproduces the design of the seed tutorial's ``FraudScoringConsumer``
(idempotent producer + manual commit after every message, JSON values, the
amount rule, a flush every 100 messages). It is at-least-once, not exactly-once:
a crash between the produce and the commit scores the message twice. Run it with
``python -m fraudstream.bench.baseline BOOTSTRAP GROUP IN_TOPIC SCORES ALERTS``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

import orjson

from fraudstream.bus.kafka import KafkaBus
from fraudstream.settings import KafkaSettings


def run_baseline(
    bootstrap: str, group: str, in_topic: str, scores: str, alerts: str, stop: threading.Event
) -> int:
    """Consume ``in_topic`` one message at a time until ``stop``; return messages done."""
    bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap))
    consumer = bus.consumer(group, read_committed=False)
    producer = bus.producer()
    consumer.subscribe([in_topic])
    done = 0
    while not stop.is_set():
        msgs = consumer.poll_batch(1, 0.2)
        if not msgs:
            continue
        msg = msgs[0]
        try:
            tx = orjson.loads(msg.value or b"")
            amount = float(tx["amount"])
        except (ValueError, KeyError, TypeError):
            consumer.commit({msg.tp: msg.offset + 1})
            continue
        flagged = amount >= 900.0
        score = min(1.0, amount / 1000.0)
        enriched = {
            **tx,
            "fraud_score": score,
            "is_fraud_pred": flagged,
            "risk_level": "HIGH" if flagged else "LOW",
            "scored_at": int(time.time() * 1000),
        }
        producer.produce(scores, orjson.dumps(enriched), key=msg.key, timestamp_ms=msg.timestamp_ms)
        if flagged:
            alert = {"transaction_id": tx.get("transaction_id"), "action_required": "REVIEW"}
            producer.produce(alerts, orjson.dumps(alert), key=msg.key)
        consumer.commit({msg.tp: msg.offset + 1})  # the seed's per-message sync commit
        done += 1
        if done % 100 == 0:
            producer.flush(5.0)
    producer.flush(10.0)
    consumer.close()
    return done


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    bootstrap, group, in_topic, scores, alerts = sys.argv[1:6]
    n = run_baseline(bootstrap, group, in_topic, scores, alerts, stop)
    print(f"baseline consumed {n}")


if __name__ == "__main__":
    main()
