"""Dead letters: records the pipeline could not process, kept with their origin.

A dead letter (schema ``dead_letter.avsc``) says why (``reason`` = the error's
``reason_code``, the exception class and message, the field to blame), where the
record came from (topic, partition, offset) and carries the original key and
bytes, so :func:`replay` can send a repaired record back to its source topic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fraudstream.bus.base import Bus, Message, TopicPartition
from fraudstream.errors import FraudstreamError, RecordError

logger = logging.getLogger(__name__)

Record = dict[str, Any]


def dead_letter_record(
    msg: Message, error: Exception, now_ms: int, worker: str | None = None
) -> Record:
    """The dead-letter record for ``msg`` that failed with ``error``.

    Example:
        >>> from fraudstream.errors import ValidationError
        >>> m = Message("transactions", 2, 41, b"c1", b"junk", 0)
        >>> r = dead_letter_record(m, ValidationError("must be > 0", field="amount"), 5)
        >>> r["reason"], r["field"], r["source_offset"], r["original_value"]
        ('validation_failed', 'amount', 41, b'junk')
    """
    if isinstance(error, FraudstreamError):
        reason, message = error.reason_code, error.message
    else:
        reason, message = "scoring_failed", str(error)
    return {
        "reason": reason,
        "error_class": type(error).__name__,
        "error_message": message[:2000],
        "field": error.field if isinstance(error, RecordError) else None,
        "source_topic": msg.topic,
        "source_partition": msg.partition,
        "source_offset": msg.offset,
        "original_key": msg.key,
        "original_value": msg.value,
        "failed_at": now_ms,
        "worker": worker,
    }


def read_dead_letters(
    bus: Bus,
    topic: str,
    decode: Callable[[Sequence[bytes | None]], list[Any]],
    *,
    timeout_s: float = 5.0,
) -> Iterator[tuple[Message, Record]]:
    """Every committed dead letter of ``topic`` (read_committed, from the start)."""
    consumer = bus.consumer(f"fraudstream-dlq-reader-{id(bus)}", read_committed=True)
    try:
        parts = [TopicPartition(topic, p) for p in range(bus.partitions_for(topic))]
        consumer.assign(parts)
        ends = {tp: consumer.watermarks(tp)[1] for tp in parts}
        for tp in parts:
            consumer.seek(tp, consumer.watermarks(tp)[0])
        done = {tp for tp, end in ends.items() if end <= 0}
        idle = 0
        while len(done) < len(parts) and idle < 3:
            batch = consumer.poll_batch(1000, timeout_s / 3)
            idle = 0 if batch else idle + 1
            values = decode([m.value for m in batch])
            for m, rec in zip(batch, values, strict=True):
                if isinstance(rec, dict):
                    yield m, rec
                else:
                    logger.warning(
                        "dead letter at %s[%d]@%d unreadable: %s",
                        m.topic,
                        m.partition,
                        m.offset,
                        rec,
                    )
                if m.offset + 1 >= ends[m.tp]:
                    done.add(m.tp)
    finally:
        consumer.close()


def replay(
    bus: Bus,
    letters: Sequence[Record],
    *,
    repair: Callable[[Record], bytes | None] | None = None,
) -> int:
    """Send dead letters back to their source topics; return how many were sent.

    ``repair`` maps a dead letter to the bytes to send (None: skip it); by default
    the original bytes go back unchanged (for errors that were not the record's
    fault, such as a scorer bug since fixed).
    """
    producer = bus.producer()
    sent = 0
    try:
        for letter in letters:
            value = repair(letter) if repair is not None else letter.get("original_value")
            if value is None:
                continue
            key = letter.get("original_key")
            if isinstance(key, str):  # a dead letter that went through JSON
                key = key.encode("latin-1")
            producer.produce(letter["source_topic"], value, key=key)
            sent += 1
        left = producer.flush(30.0)
        if left:
            raise FraudstreamError(f"{left} replayed records were not delivered")
    finally:
        producer.close()
    logger.info("replayed %d dead letters", sent)
    return sent
