"""Key-to-partition mapping shared by both bus backends.

The in-process bus and the Kafka backend must put a key in the same partition,
so that state keyed by partition (feature windows, the live graph) means the
same thing on both. We use librdkafka's ``consistent_random`` partitioner: the
CRC-32 of the key modulo the partition count (``zlib.crc32`` is the same CRC as
librdkafka's ``rd_crc32``), and a spread over partitions for ``None`` keys.
The Kafka backend sets ``partitioner=consistent_random`` explicitly.
"""

from __future__ import annotations

import zlib

from fraudstream.errors import BusError

KAFKA_PARTITIONER = "consistent_random"


def partition_for_key(key: bytes, num_partitions: int) -> int:
    """Return the partition of ``key`` in a topic of ``num_partitions`` partitions.

    Example:
        >>> partition_for_key(b"card-1", 6) == partition_for_key(b"card-1", 6)
        True
        >>> 0 <= partition_for_key(b"card-1", 6) < 6
        True
    """
    if num_partitions < 1:
        raise BusError(f"a topic needs at least one partition, got {num_partitions}")
    return zlib.crc32(key) % num_partitions
