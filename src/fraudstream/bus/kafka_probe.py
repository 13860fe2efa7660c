"""Is a Kafka broker really serving? Metadata, and optionally a transaction coordinator."""

from __future__ import annotations

import logging
import uuid
from typing import Any

logger = logging.getLogger(__name__)


def quiet_config(bootstrap: str) -> dict[str, Any]:
    """Client config that routes librdkafka's logs to Python logging (no stderr noise)."""
    return {
        "bootstrap.servers": bootstrap,
        "logger": logging.getLogger("fraudstream.bus.librdkafka"),
        "error_cb": lambda err: logger.debug("librdkafka: %s", err),
    }


def probe(bootstrap: str, *, wait_transactions: bool = True, timeout_s: float = 5.0) -> str:
    """Return ``""`` if the broker answers (and can run transactions), else the reason.

    Example:
        >>> probe("127.0.0.1:1", timeout_s=0.5) != ""
        True
    """
    from confluent_kafka import KafkaException, Producer
    from confluent_kafka.admin import AdminClient

    try:
        meta = AdminClient(quiet_config(bootstrap)).list_topics(timeout=timeout_s)
        if not meta.brokers:
            return "metadata without brokers"
        if not wait_transactions:
            return ""
        conf = quiet_config(bootstrap)
        conf["transactional.id"] = f"fraudstream-probe-{uuid.uuid4().hex[:8]}"
        producer = Producer(conf)
        producer.init_transactions(timeout_s)
        return ""
    except KafkaException as exc:
        return str(exc.args[0] if exc.args else exc)
