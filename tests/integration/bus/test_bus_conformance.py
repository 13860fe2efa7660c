"""One conformance suite for both buses: the in-process one and real Kafka.

Every test runs against ``MemoryBus`` and against ``KafkaBus`` on the session's
real broker, and asserts the semantics the pipeline relies on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fraudstream.bus.base import Bus, TopicPartition
from fraudstream.bus.memory import MemoryBus
from fraudstream.bus.partitioner import partition_for_key
from fraudstream.errors import ProducerFencedError
from tests.conftest import TopicFactory
from tests.integration.bus.helpers import consume, consume_for

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "kafka"])
def bus(request: pytest.FixtureRequest) -> Iterator[Bus]:
    if request.param == "memory":
        yield MemoryBus()
    else:
        yield request.getfixturevalue("kafka_bus")


# Kafka needs a moment before "nothing arrived" means something; memory does not.
def quiet_s(bus: Bus) -> float:
    return 0.2 if isinstance(bus, MemoryBus) else 3.0


def test_keyed_records_keep_order_in_the_key_hash_partition(
    bus: Bus, unique_topics: TopicFactory
) -> None:
    topic = unique_topics.name("order")
    bus.create_topics({topic: 4})
    p = bus.producer()
    for i in range(300):
        p.produce(topic, f"{i}".encode(), key=f"card-{i % 17}".encode())
    assert p.flush(30.0) == 0
    c = bus.consumer(unique_topics.name("g"))
    c.subscribe([topic])
    msgs = consume(c, 300)
    c.close()
    assert len(msgs) == 300
    per_key: dict[bytes, list[int]] = {}
    for m in msgs:
        assert m.key is not None
        assert m.partition == partition_for_key(m.key, 4)  # same mapping on both buses
        per_key.setdefault(m.key, []).append(int(m.value or b"-1"))
    assert all(v == sorted(v) for v in per_key.values())
    assert sum(len(v) for v in per_key.values()) == 300


def test_round_trip_returns_exactly_what_was_produced(
    bus: Bus, unique_topics: TopicFactory
) -> None:
    topic = unique_topics.name("rt")
    bus.create_topics({topic: 3})
    sent = {(f"k{i % 50}".encode(), f"value-{i}".encode()) for i in range(2000)}
    p = bus.producer()
    for key, value in sorted(sent):
        p.produce(topic, value, key=key, headers=[("h", b"1")], timestamp_ms=1_700_000_000_000)
    assert p.flush(30.0) == 0
    c = bus.consumer(unique_topics.name("g"))
    c.subscribe([topic])
    msgs = consume(c, 2000)
    assert consume_for(c, 0.5) == []
    c.close()
    assert {(m.key, m.value) for m in msgs} == sent and len(msgs) == 2000
    assert all(m.headers == (("h", b"1"),) and m.timestamp_ms == 1_700_000_000_000 for m in msgs)


def test_committed_offsets_resume_the_group(bus: Bus, unique_topics: TopicFactory) -> None:
    topic, group = unique_topics.name("resume"), unique_topics.name("g")
    bus.create_topics({topic: 1})
    tp = TopicPartition(topic, 0)
    p = bus.producer()
    for i in range(10):
        p.produce(topic, f"{i}".encode())
    p.flush(30.0)
    c = bus.consumer(group)
    c.subscribe([topic])
    first = consume(c, 4)
    assert [m.value for m in first[:4]] == [b"0", b"1", b"2", b"3"]
    c.commit({tp: 4})
    assert c.committed([tp]) == {tp: 4}
    c.close()
    c2 = bus.consumer(group)
    c2.subscribe([topic])
    rest = consume(c2, 6)
    c2.close()
    assert [m.value for m in rest] == [f"{i}".encode() for i in range(4, 10)]


def test_transactional_writes_visible_only_after_commit(
    bus: Bus, unique_topics: TopicFactory
) -> None:
    topic = unique_topics.name("txn")
    bus.create_topics({topic: 1})
    tx = bus.transactional_producer(unique_topics.name("tx"))
    committed_reader = bus.consumer(unique_topics.name("rc"))
    committed_reader.subscribe([topic])
    dirty_reader = bus.consumer(unique_topics.name("ru"), read_committed=False)
    dirty_reader.subscribe([topic])
    tx.begin()
    for i in range(3):
        tx.produce(topic, f"t{i}".encode())
    tx.flush(30.0)
    assert [m.value for m in consume(dirty_reader, 3)] == [b"t0", b"t1", b"t2"]
    assert consume_for(committed_reader, quiet_s(bus)) == []
    tx.commit()
    assert [m.value for m in consume(committed_reader, 3)] == [b"t0", b"t1", b"t2"]
    # An aborted transaction is never visible to read_committed, even later.
    tx.begin()
    tx.produce(topic, b"aborted")
    tx.flush(30.0)
    tx.abort()
    tx.begin()
    tx.produce(topic, b"after")
    tx.commit()
    assert [m.value for m in consume(committed_reader, 1)] == [b"after"]
    assert consume_for(committed_reader, quiet_s(bus) / 3) == []
    dirty = [m.value for m in consume(dirty_reader, 2)]
    assert dirty == [b"aborted", b"after"]
    for c in (committed_reader, dirty_reader):
        c.close()
    tx.close()


def test_send_offsets_commit_only_with_the_transaction(
    bus: Bus, unique_topics: TopicFactory
) -> None:
    src, out, group = unique_topics.name("src"), unique_topics.name("out"), unique_topics.name("g")
    bus.create_topics({src: 1, out: 1})
    tp = TopicPartition(src, 0)
    p = bus.producer()
    for i in range(5):
        p.produce(src, f"{i}".encode())
    p.flush(30.0)
    c = bus.consumer(group)
    c.subscribe([src])
    msgs = consume(c, 5)
    assert len(msgs) == 5
    tx = bus.transactional_producer(unique_topics.name("tx"))
    tx.begin()
    tx.produce(out, b"derived")
    tx.send_offsets({tp: 5}, c)
    tx.abort()
    assert c.committed([tp]) == {tp: -1}
    tx.begin()
    tx.produce(out, b"derived")
    tx.send_offsets({tp: 5}, c)
    tx.commit()
    assert c.committed([tp]) == {tp: 5}
    reader = bus.consumer(unique_topics.name("r"))
    reader.subscribe([out])
    assert [m.value for m in consume(reader, 1)] == [b"derived"]
    assert consume_for(reader, quiet_s(bus) / 3) == []
    for closable in (reader, c, tx):
        closable.close()


def test_newer_producer_fences_the_zombie(bus: Bus, unique_topics: TopicFactory) -> None:
    topic, tid = unique_topics.name("fence"), unique_topics.name("worker")
    bus.create_topics({topic: 1})
    zombie = bus.transactional_producer(tid)
    zombie.begin()
    zombie.produce(topic, b"zombie")
    zombie.flush(30.0)
    fresh = bus.transactional_producer(tid)  # fences the zombie, aborts its transaction
    with pytest.raises(ProducerFencedError):
        zombie.produce(topic, b"zombie-2")
        zombie.commit()
    fresh.begin()
    fresh.produce(topic, b"fresh")
    fresh.commit()
    reader = bus.consumer(unique_topics.name("r"))
    reader.subscribe([topic])
    assert [m.value for m in consume(reader, 1)] == [b"fresh"]
    assert consume_for(reader, quiet_s(bus) / 3) == []
    reader.close()
    fresh.close()


def test_group_members_share_partitions(bus: Bus, unique_topics: TopicFactory) -> None:
    topic, group = unique_topics.name("share"), unique_topics.name("g")
    bus.create_topics({topic: 4})
    a, b = bus.consumer(group), bus.consumer(group)
    a.subscribe([topic])
    b.subscribe([topic])
    expected = {TopicPartition(topic, i) for i in range(4)}
    for _ in range(150):
        a.poll_batch(10, 0.1)
        b.poll_batch(10, 0.1)
        got_a, got_b = set(a.assignment()), set(b.assignment())
        if got_a | got_b == expected and got_a and got_b and not got_a & got_b:
            break
    assert got_a | got_b == expected
    assert got_a and got_b and not got_a & got_b
    a.close()
    b.close()


def test_seek_inside_on_assign_sets_the_start_offset(bus: Bus, unique_topics: TopicFactory) -> None:
    topic = unique_topics.name("seek")
    bus.create_topics({topic: 1})
    p = bus.producer()
    for i in range(6):
        p.produce(topic, f"{i}".encode())
    p.flush(30.0)
    c = bus.consumer(unique_topics.name("g"))
    c.subscribe([topic], on_assign=lambda tps: [c.seek(tp, 3) for tp in tps])
    assert [m.value for m in consume(c, 3)] == [b"3", b"4", b"5"]
    c.close()


def test_watermarks_stop_at_the_last_stable_offset(bus: Bus, unique_topics: TopicFactory) -> None:
    topic = unique_topics.name("wm")
    bus.create_topics({topic: 1})
    tp = TopicPartition(topic, 0)
    p = bus.producer()
    p.produce(topic, b"plain")
    p.flush(30.0)
    tx = bus.transactional_producer(unique_topics.name("tx"))
    tx.begin()
    tx.produce(topic, b"open")
    tx.flush(30.0)
    reader = bus.consumer(unique_topics.name("r"))
    reader.assign([tp])
    low, high = reader.watermarks(tp)
    assert (low, high) == (0, 1)
    tx.commit()
    reader.close()


def test_partitions_move_after_the_old_owner_commits_on_revoke(
    bus: Bus, unique_topics: TopicFactory
) -> None:
    """Cooperative hand-off: no record is read twice when the owner commits on revoke."""
    topic, group = unique_topics.name("handoff"), unique_topics.name("g")
    bus.create_topics({topic: 4})
    p = bus.producer()
    for i in range(400):
        p.produce(topic, f"{i}".encode(), key=f"k{i % 40}".encode())
    p.flush(30.0)
    a = bus.consumer(group)
    positions: dict[TopicPartition, int] = {}
    revoked: list[TopicPartition] = []

    def commit_on_revoke(tps: list[TopicPartition]) -> None:
        revoked.extend(tps)
        done = {tp: positions[tp] for tp in tps if tp in positions}
        if done:
            a.commit(done)

    a.subscribe([topic], on_revoke=commit_on_revoke)  # type: ignore[arg-type]
    seen_a = []
    for m in consume(a, 400, timeout_s=30.0):
        seen_a.append(m.value)
        positions[m.tp] = m.offset + 1
    assert len(seen_a) == 400
    b = bus.consumer(group)
    b.subscribe([topic])
    seen_b = []
    for _ in range(150):
        for m in a.poll_batch(100, 0.1):
            seen_a.append(m.value)
        seen_b.extend(m.value for m in b.poll_batch(100, 0.1))
        if b.assignment() and len(a.assignment()) + len(b.assignment()) == 4:
            break
    seen_b.extend(m.value for m in consume_for(b, quiet_s(bus) / 3))
    assert revoked and set(revoked) == set(b.assignment())
    assert seen_b == []  # b resumes at a's committed offsets: nothing twice
    assert len(seen_a) == 400
    a.close()  # runs on_revoke for what a still holds, which may still commit
    assert set(revoked) == {TopicPartition(topic, i) for i in range(4)}
    b.close()
