from fraudstream.pipeline.state import PartitionStore, changelog_topic


def test_changelog_holds_net_changes_of_the_transaction() -> None:
    s = PartitionStore(3)
    s.put("a", b"1")
    s.put("a", b"2")
    s.put("b", b"x")
    s.delete("b")
    assert sorted(s.changelog(), key=str) == [("a", b"2"), ("b", None)]
    s.commit()
    assert s.changelog() == [] and not s.dirty
    assert s.get("a") == b"2" and s.get("b") is None


def test_abort_restores_the_state_at_the_last_commit() -> None:
    s = PartitionStore(0, {"a": b"1", "gone": b"g"})
    s.put("a", b"2")
    s.put("new", b"n")
    s.delete("gone")
    s.savepoint()
    s.put("a", b"3")
    s.abort()
    assert s.snapshot() == {"a": b"1", "gone": b"g"}
    assert s.changelog() == []


def test_savepoint_rollback_undoes_only_the_inner_writes() -> None:
    s = PartitionStore(0)
    s.put("a", b"1")
    s.savepoint()
    s.put("a", b"2")
    s.put("b", b"2")
    s.rollback()
    assert s.snapshot() == {"a": b"1"}
    # the outer transaction still knows "a" changed, and the rolled-back "b" is not news
    assert dict(s.changelog()) in ({"a": b"1"}, {"a": b"1", "b": None})
    s.savepoint()
    s.put("c", b"3")
    s.release()
    s.abort()
    assert s.snapshot() == {}


def test_apply_changelog_replays_puts_and_tombstones() -> None:
    s = PartitionStore(1)
    s.apply_changelog(b"k", b"v1")
    s.apply_changelog(b"k", b"v2")
    s.apply_changelog(b"j", b"x")
    s.apply_changelog(b"j", None)
    s.apply_changelog(None, b"ignored")
    assert s.snapshot() == {"k": b"v2"}
    assert not s.dirty


def test_changelog_topic_name() -> None:
    assert changelog_topic("g") == "g-state-changelog"
