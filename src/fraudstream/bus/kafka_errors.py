"""librdkafka errors mapped onto fraudstream's bus error tree."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from fraudstream.errors import (
    AbortableTransactionError,
    BusError,
    FatalBusError,
    ProducerFencedError,
    RetriableBusError,
)

_FENCED_CODES = frozenset(
    {
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.FENCED_INSTANCE_ID,
    }
)


def map_kafka_error(err: KafkaError | KafkaException | BaseException, what: str) -> BusError:
    """Translate a librdkafka error into the bus error the caller must act on.

    Order matters: a fenced producer is fatal *and* final, an error that requires
    aborting the transaction must not be retried as-is.

    Example:
        >>> e = map_kafka_error(KafkaError(KafkaError._TIMED_OUT, "slow", retriable=True), "commit")
        >>> type(e).__name__
        'RetriableBusError'
    """
    kerr = err
    if isinstance(err, KafkaException) and err.args and isinstance(err.args[0], KafkaError):
        kerr = err.args[0]
    if not isinstance(kerr, KafkaError):
        return BusError(f"{what}: {err}")
    text = f"{what}: {kerr.name()}: {kerr.str()}"
    if kerr.code() in _FENCED_CODES:
        return ProducerFencedError(text)
    if kerr.fatal():
        return FatalBusError(text)
    if kerr.txn_requires_abort():
        return AbortableTransactionError(text)
    if kerr.retriable():
        return RetriableBusError(text)
    return BusError(text)
