"""Unit tests of the in-process bus: partitioning, groups, transactions, fencing."""

from __future__ import annotations

import threading

import pytest

from fraudstream.bus.base import Bus, Consumer, Message, TopicPartition, TransactionalProducer
from fraudstream.bus.memory import MemoryBus
from fraudstream.bus.partitioner import partition_for_key
from fraudstream.errors import AbortableTransactionError, BusError, ProducerFencedError


def drain(c: Consumer, rounds: int = 5, timeout_s: float = 0.02) -> list[Message]:
    out: list[Message] = []
    for _ in range(rounds):
        out.extend(c.poll_batch(1000, timeout_s))
    return out


@pytest.fixture
def bus() -> MemoryBus:
    b = MemoryBus()
    b.create_topics({"in": 4, "out": 2})
    return b


def test_implements_protocols(bus: MemoryBus) -> None:
    assert isinstance(bus, Bus)
    assert isinstance(bus.transactional_producer("x"), TransactionalProducer)
    assert isinstance(bus.consumer("g"), Consumer)


def test_keyed_records_land_in_hash_partition_in_order(bus: MemoryBus) -> None:
    p = bus.producer()
    for i in range(50):
        p.produce("in", str(i).encode(), key=f"k{i % 5}".encode())
    c = bus.consumer("g")
    c.subscribe(["in"])
    msgs = drain(c)
    assert len(msgs) == 50
    by_key: dict[bytes, list[int]] = {}
    for m in msgs:
        assert m.key is not None
        assert m.partition == partition_for_key(m.key, 4)
        by_key.setdefault(m.key, []).append(int(m.value or b""))
    for values in by_key.values():
        assert values == sorted(values)


def test_none_key_spreads_round_robin(bus: MemoryBus) -> None:
    p = bus.producer()
    for _ in range(8):
        p.produce("in", b"v")
    c = bus.consumer("g")
    c.assign([TopicPartition("in", i) for i in range(4)])
    assert sorted({m.partition for m in drain(c)}) == [0, 1, 2, 3]


def test_unknown_topic_and_bad_config_raise(bus: MemoryBus) -> None:
    with pytest.raises(BusError):
        bus.producer().produce("nope", b"x")
    with pytest.raises(BusError):
        bus.partitions_for("nope")
    with pytest.raises(BusError):
        bus.consumer("g", auto_offset_reset="middle")
    with pytest.raises(BusError):
        bus.create_topics({"zero": 0})


def test_create_topics_is_idempotent(bus: MemoryBus) -> None:
    bus.create_topics({"in": 9})
    assert bus.partitions_for("in") == 4


def test_committed_offsets_resume(bus: MemoryBus) -> None:
    p = bus.producer()
    for i in range(10):
        p.produce("out", str(i).encode(), partition=0)
    c = bus.consumer("g")
    c.subscribe(["out"])
    first = c.poll_batch(4, 0.1)
    assert [m.value for m in first] == [b"0", b"1", b"2", b"3"]
    tp = TopicPartition("out", 0)
    c.commit({tp: first[-1].offset + 1})
    c.close()
    c2 = bus.consumer("g")
    c2.subscribe(["out"])
    rest = drain(c2)
    assert [m.value for m in rest] == [str(i).encode() for i in range(4, 10)]
    assert c2.committed([tp, TopicPartition("out", 1)]) == {tp: 4, TopicPartition("out", 1): -1}


def test_latest_reset_skips_old_records(bus: MemoryBus) -> None:
    bus.producer().produce("out", b"old", partition=0)
    c = bus.consumer("g", auto_offset_reset="latest")
    c.subscribe(["out"])
    assert drain(c, rounds=1) == []
    bus.producer().produce("out", b"new", partition=0)
    assert [m.value for m in drain(c, rounds=2)] == [b"new"]


def test_transaction_invisible_until_commit_and_gone_after_abort(bus: MemoryBus) -> None:
    tx = bus.transactional_producer("t1")
    committed_reader = bus.consumer("rc")
    committed_reader.assign([TopicPartition("out", 0)])
    dirty_reader = bus.consumer("ru", read_committed=False)
    dirty_reader.assign([TopicPartition("out", 0)])
    tx.begin()
    tx.produce("out", b"a", partition=0)
    assert drain(committed_reader, rounds=1) == []
    assert committed_reader.watermarks(TopicPartition("out", 0)) == (0, 0)
    assert [m.value for m in drain(dirty_reader, rounds=1)] == [b"a"]
    tx.commit()
    assert [m.value for m in drain(committed_reader, rounds=1)] == [b"a"]
    tx.begin()
    tx.produce("out", b"b", partition=0)
    tx.abort()
    tx.begin()
    tx.produce("out", b"c", partition=0)
    tx.commit()
    assert [m.value for m in drain(committed_reader)] == [b"c"]


def test_produce_outside_transaction_is_refused(bus: MemoryBus) -> None:
    tx = bus.transactional_producer("t1")
    with pytest.raises(BusError):
        tx.produce("out", b"x")
    tx.begin()
    with pytest.raises(BusError):
        tx.begin()


def test_send_offsets_commit_only_with_transaction(bus: MemoryBus) -> None:
    bus.producer().produce("out", b"x", partition=0)
    tp = TopicPartition("out", 0)
    c = bus.consumer("g")
    c.subscribe(["out"])
    msgs = drain(c, rounds=1)
    tx = bus.transactional_producer("t1")
    tx.begin()
    tx.send_offsets({tp: msgs[-1].offset + 1}, c)
    assert c.committed([tp])[tp] == -1
    tx.abort()
    assert c.committed([tp])[tp] == -1
    tx.begin()
    tx.send_offsets({tp: msgs[-1].offset + 1}, c)
    tx.commit()
    assert c.committed([tp])[tp] == 1


def test_newer_producer_fences_zombie_and_aborts_its_transaction(bus: MemoryBus) -> None:
    zombie = bus.transactional_producer("worker-0")
    zombie.begin()
    zombie.produce("out", b"zombie", partition=0)
    fresh = bus.transactional_producer("worker-0")
    with pytest.raises(ProducerFencedError):
        zombie.commit()
    with pytest.raises(ProducerFencedError):
        zombie.begin()
    fresh.begin()
    fresh.produce("out", b"fresh", partition=0)
    fresh.commit()
    c = bus.consumer("g")
    c.assign([TopicPartition("out", 0)])
    assert [m.value for m in drain(c)] == [b"fresh"]
    zombie.close()  # closing a fenced producer must not disturb the new one


def test_group_rebalances_on_join_and_close_with_callbacks(bus: MemoryBus) -> None:
    events: list[tuple[str, str, list[int]]] = []

    def cbs(name: str) -> dict[str, object]:
        return {
            "on_assign": lambda tps: events.append((name, "assign", [t.partition for t in tps])),
            "on_revoke": lambda tps: events.append((name, "revoke", [t.partition for t in tps])),
        }

    a = bus.consumer("g")
    a.subscribe(["in"], **cbs("a"))  # type: ignore[arg-type]
    a.poll_batch(10, 0.01)
    assert len(a.assignment()) == 4
    b = bus.consumer("g")
    b.subscribe(["in"], **cbs("b"))  # type: ignore[arg-type]
    for _ in range(3):
        a.poll_batch(10, 0.01)
        b.poll_batch(10, 0.01)
    assert len(a.assignment()) == 2 and len(b.assignment()) == 2
    assert set(a.assignment()).isdisjoint(b.assignment())
    revoked = [e for e in events if e[:2] == ("a", "revoke")]
    assert len(revoked) == 1 and len(revoked[0][2]) == 2  # incremental, not all four
    a.close()
    for _ in range(2):
        b.poll_batch(10, 0.01)
    assert len(b.assignment()) == 4
    assert events[-1][0:2] == ("b", "assign")


def test_partition_moves_only_after_old_owner_commits_on_revoke(bus: MemoryBus) -> None:
    """The exactly-once pattern: commit in on_revoke, the new owner resumes after it."""
    p = bus.producer()
    for i in range(40):
        p.produce("in", str(i).encode(), key=f"k{i}".encode())
    a = bus.consumer("g")
    tx = bus.transactional_producer("w-a")
    pending: dict[TopicPartition, int] = {}

    def on_revoke(tps: list[TopicPartition]) -> None:
        tx.begin()
        tx.send_offsets({tp: pending[tp] for tp in tps if tp in pending}, a)
        tx.commit()

    a.subscribe(["in"], on_revoke=on_revoke)  # type: ignore[arg-type]
    seen = []
    for m in drain(a, rounds=2):
        seen.append(m.value)
        pending[m.tp] = m.offset + 1
    b = bus.consumer("g")
    b.subscribe(["in"])
    b.poll_batch(10, 0.01)  # b waits: a still owns everything
    assert b.assignment() == []
    a.poll_batch(10, 0.01)  # a revokes half and commits
    assert drain(b) == []  # b resumes from a's committed offsets: no duplicates
    assert len(seen) == 40


def test_stale_member_cannot_commit_offsets_in_transaction() -> None:
    zombie = MemoryBus(session_timeout_s=0.0)
    zombie.create_topics({"t": 1})
    zombie.producer().produce("t", b"x")
    lost: list[TopicPartition] = []
    a = zombie.consumer("g")
    a.subscribe(["t"], on_lost=lost.extend)
    msgs = drain(a, rounds=1)
    b = zombie.consumer("g")
    b.subscribe(["t"])
    b.poll_batch(10, 0.01)  # a has not polled "for too long": evicted, b takes over
    assert b.assignment() == [TopicPartition("t", 0)]
    tx = zombie.transactional_producer("w")
    tx.begin()
    tx.send_offsets({msgs[0].tp: 1}, a)
    with pytest.raises(AbortableTransactionError):
        tx.commit()
    tx.abort()
    a.poll_batch(10, 0.01)
    assert lost == [TopicPartition("t", 0)]


def test_retention_trims_and_moves_low_watermark() -> None:
    bus = MemoryBus(retention_records=10)
    bus.create_topics({"t": 1})
    p = bus.producer()
    for i in range(25):
        p.produce("t", str(i).encode())
    c = bus.consumer("g")
    c.assign([TopicPartition("t", 0)])
    low, high = c.watermarks(TopicPartition("t", 0))
    assert high == 25 and 0 < low <= 15
    assert drain(c)[0].offset == low


def test_blocked_poll_wakes_on_produce_from_another_thread(bus: MemoryBus) -> None:
    c = bus.consumer("g")
    c.assign([TopicPartition("out", 0)])
    timer = threading.Timer(0.05, lambda: bus.producer().produce("out", b"late", partition=0))
    timer.start()
    got = c.poll_batch(10, 5.0)
    timer.join()
    assert [m.value for m in got] == [b"late"]


def test_concurrent_producers_lose_nothing(bus: MemoryBus) -> None:
    def work(n: int) -> None:
        p = bus.producer()
        for i in range(500):
            p.produce("in", f"{n}-{i}".encode(), key=f"{n}".encode())

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c = bus.consumer("g")
    c.subscribe(["in"])
    msgs = drain(c)
    assert len(msgs) == 2000
    for n in range(4):
        mine = [int((m.value or b"").split(b"-")[1]) for m in msgs if m.key == str(n).encode()]
        assert mine == list(range(500))


def test_subscribing_to_a_missing_topic_fails_at_poll(bus: MemoryBus) -> None:
    c = bus.consumer("g")
    c.subscribe(["missing"])
    with pytest.raises(BusError, match="missing"):
        c.poll_batch(10, 0.01)
    bus.create_topics({"missing": 1})
    assert c.poll_batch(10, 0.01) == []
    assert c.assignment() == [TopicPartition("missing", 0)]


def test_produce_batch_matches_produce(bus: MemoryBus) -> None:
    records = [("in", f"{i}".encode(), f"k{i % 3}".encode(), None, 1000 + i) for i in range(30)]
    records.append(("out", b"pinned", None, 1, None))
    tx = bus.transactional_producer("t")
    with pytest.raises(BusError):
        tx.produce_batch(records)  # outside a transaction
    tx.begin()
    tx.produce_batch(records)
    reader = bus.consumer("g")
    reader.subscribe(["in", "out"])
    assert drain(reader, rounds=1) == []
    tx.commit()
    msgs = drain(reader)
    assert len(msgs) == 31
    for m in msgs:
        if m.topic == "in":
            assert m.key is not None and m.partition == partition_for_key(m.key, 4)
            assert m.timestamp_ms == 1000 + int(m.value or b"")
        else:
            assert (m.partition, m.value) == (1, b"pinned")
    with pytest.raises(BusError):
        bus.producer().produce_batch([("out", b"x", None, 7, None)])
