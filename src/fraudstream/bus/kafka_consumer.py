"""The consumer of the Kafka backend (see :mod:`fraudstream.bus.kafka`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer as _RdConsumer
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as _RdTopicPartition

from fraudstream.bus.base import Message, RebalanceCallback, TopicPartition
from fraudstream.bus.kafka_errors import map_kafka_error
from fraudstream.errors import BusError

logger = logging.getLogger(__name__)


def _ours(parts: Sequence[_RdTopicPartition]) -> list[TopicPartition]:
    return [TopicPartition(p.topic, p.partition) for p in parts]


class KafkaConsumer:
    """A group member with the cooperative-sticky assignor and manual commits.

    The rebalance callbacks receive the incremental partitions. A ``seek`` made
    inside ``on_assign`` is applied as the starting offset of that assignment
    (librdkafka cannot seek a partition before it is assigned).

    Example:
        >>> from fraudstream.bus.kafka import KafkaBus
        >>> from fraudstream.settings import KafkaSettings
        >>> c = KafkaBus(KafkaSettings()).consumer("g")  # doctest: +SKIP
        >>> c.subscribe(["transactions"]); c.poll_batch(500, 1.0)  # doctest: +SKIP
        []
    """

    def __init__(self, conf: dict[str, Any], *, timeout_s: float = 30.0) -> None:
        self._c = _RdConsumer(conf)
        self.group_id: str = conf["group.id"]
        self.timeout_s = timeout_s
        self._pending_seeks: dict[TopicPartition, int] | None = None
        self._closed = False
        self._closing = False
        self._on_revoke: RebalanceCallback | None = None

    def group_metadata(self) -> object:
        """The consumer group metadata a transactional producer commits offsets with."""
        return self._c.consumer_group_metadata()

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
        on_lost: RebalanceCallback | None = None,
    ) -> None:
        def assigned(consumer: _RdConsumer, parts: list[_RdTopicPartition]) -> None:
            self._pending_seeks = {}
            try:
                if on_assign is not None:
                    on_assign(_ours(parts))
                seeks = self._pending_seeks
            finally:
                self._pending_seeks = None
            start = [
                _RdTopicPartition(
                    p.topic, p.partition, seeks.get(TopicPartition(p.topic, p.partition), p.offset)
                )
                for p in parts
            ]
            consumer.incremental_assign(start)

        kwargs: dict[str, Any] = {"on_assign": assigned}
        # While closing, close() has already revoked everything itself (see there):
        # librdkafka's own revoke during rd_kafka_consumer_close() is not a place
        # where a callback may safely commit.
        self._on_revoke = on_revoke
        if on_revoke is not None:
            kwargs["on_revoke"] = lambda _c, parts: (
                None if self._closing else on_revoke(_ours(parts))
            )
        if on_lost is not None:
            kwargs["on_lost"] = lambda _c, parts: None if self._closing else on_lost(_ours(parts))
        self._call(lambda: self._c.subscribe(list(topics), **kwargs), "subscribe")

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        self._call(
            lambda: self._c.assign(
                [_RdTopicPartition(tp.topic, tp.partition) for tp in partitions]
            ),
            "assign",
        )

    def poll_batch(self, max_records: int, timeout_s: float) -> list[Message]:
        try:
            # Any: the stubs allow None fields that a message without error never has.
            raw: list[Any] = self._c.consume(num_messages=max_records, timeout=timeout_s)
        except KafkaException as exc:
            raise map_kafka_error(exc, "consume") from exc
        out: list[Message] = []
        for m in raw:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise map_kafka_error(err, f"consume {m.topic()}[{m.partition()}]")
            out.append(
                Message(
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    m.key(),
                    m.value(),
                    m.timestamp()[1],
                    tuple(m.headers() or ()),
                )
            )
        return out

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        parts = [_RdTopicPartition(tp.topic, tp.partition, o) for tp, o in offsets.items()]
        self._call(lambda: self._c.commit(offsets=parts, asynchronous=False), "commit")

    def committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        parts = [_RdTopicPartition(tp.topic, tp.partition) for tp in partitions]
        try:
            got = self._c.committed(parts, timeout=self.timeout_s)
        except KafkaException as exc:
            raise map_kafka_error(exc, "committed") from exc
        return {TopicPartition(p.topic, p.partition): max(p.offset, -1) for p in got}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if self._pending_seeks is not None:  # inside on_assign: becomes the start offset
            self._pending_seeks[tp] = offset
            return
        self._call(
            lambda: self._c.seek(_RdTopicPartition(tp.topic, tp.partition, offset)), f"seek {tp}"
        )

    def position(self, tp: TopicPartition) -> int:
        """The offset of the next record to read from ``tp`` (-1 before the first fetch).

        Unlike "last record + 1" it moves past transaction control records, which
        is how a state restore knows it reached the end of a changelog partition.
        """
        try:
            got = self._c.position([_RdTopicPartition(tp.topic, tp.partition)])
        except KafkaException as exc:
            raise map_kafka_error(exc, f"position of {tp}") from exc
        return max(int(got[0].offset), -1)

    def assignment(self) -> list[TopicPartition]:
        return sorted(_ours(self._c.assignment()))

    def watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        try:
            low, high = self._c.get_watermark_offsets(
                _RdTopicPartition(tp.topic, tp.partition), timeout=self.timeout_s, cached=False
            )
        except KafkaException as exc:
            raise map_kafka_error(exc, f"watermarks of {tp}") from exc
        return int(low), int(high)

    def close(self) -> None:
        if self._closed:
            return
        # Revoke first, as a full group member: the callback may still commit (a
        # synchronous commit from inside librdkafka's close-time revoke can abort
        # the process). Closed only afterwards.
        try:
            held = self.assignment() if self._on_revoke is not None else []
            if held and self._on_revoke is not None:
                self._on_revoke(held)
            self._closing = True
            self._call(self._c.close, "close")
        except BusError as exc:
            # A commit from on_revoke can find that the group already evicted us
            # (a slow member on a loaded machine). The partitions were lost, not
            # revoked: their next owner resumes from the last committed offsets,
            # so there is nothing left to do but say so.
            if not _membership_lost(exc):
                raise
            logger.warning("consumer closed after losing its group membership: %s", exc)
        finally:
            self._closed = True

    def _call(self, fn: Any, what: str) -> None:
        if self._closed and what != "close":
            raise BusError("consumer is closed")
        try:
            fn()
        except KafkaException as exc:
            raise map_kafka_error(exc, what) from exc


_MEMBERSHIP_LOST = (
    "UNKNOWN_MEMBER_ID",
    "ILLEGAL_GENERATION",
    "REBALANCE_IN_PROGRESS",
    "FENCED_INSTANCE_ID",
)


def _membership_lost(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause) says this member no longer owns its partitions."""
    text = f"{exc} {exc.__cause__ or ''}"
    return any(code in text for code in _MEMBERSHIP_LOST)
