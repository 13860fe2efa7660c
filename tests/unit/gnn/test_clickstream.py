"""Live user-session-product graph: structure, features, purity, bounds."""

from __future__ import annotations

from typing import Any

import pytest

from fraudstream.detect.gnn.click_graph import (
    FEATURE_NAMES,
    NUM_FEATURES,
    ClickGraphState,
    DictStore,
    GraphLimits,
)
from fraudstream.errors import ValidationError
from fraudstream.generate.clickstream import ClickstreamConfig, ClickstreamGenerator


def _ev(
    i: int, user: str, sess: str, etype: str, product: int | None, status: str = "SUCCESS"
) -> dict[str, Any]:
    return {"event_id": f"e{i}", "user_id": user, "session_id": sess, "event_type": etype,
            "event_timestamp": 1000 * i, "request_latency_ms": 100, "status": status,
            "error_code": None if status == "SUCCESS" else 429, "product_id": product}  # fmt: skip


EVENTS = [
    _ev(0, "u1", "s1", "VIEW_PRODUCT", 7),
    _ev(1, "u1", "s1", "ADD_TO_CART", 7),
    _ev(2, "u2", "s2", "CHECKOUT", None, "ERROR"),
    _ev(3, "u2", "s2", "VIEW_PRODUCT", 7),
]


def test_graph_structure_and_features() -> None:
    st = ClickGraphState(DictStore())
    assert st.update(EVENTS) == ["s1", "s1", "s2", "s2"]
    g = st.sample(["s2", "s1"])
    assert g.seeds == ["s2", "s1"]  # seed i is node i
    assert g.x.shape == (5, NUM_FEATURES)
    # s2-u2, s2-p7, s1-u1, s1-p7 (the product links both sessions: co-visitation)
    assert g.edge_index.shape == (2, 8)
    col = FEATURE_NAMES.index
    assert g.x[0, col("is_session")] == 1.0 and g.x[0, col("error_share")] == pytest.approx(0.5)
    assert g.x[1, col("share_add_to_cart")] == pytest.approx(0.5)
    products = g.x[:, col("is_product")] == 1.0
    assert products.sum() == 1 and g.x[products, col("log_events")][0] > 0


def test_missing_ids_raise_typed_error() -> None:
    with pytest.raises(ValidationError):
        ClickGraphState(DictStore()).update([{"event_id": "x", "session_id": "s"}])
    with pytest.raises(ValidationError):
        ClickGraphState(DictStore()).sample(["never-seen"])


def _stream(n: int) -> list[dict[str, Any]]:
    cfg = ClickstreamConfig(seed=4, bot_session_probability=0.1, new_session_probability=0.05,
                            returning_user_probability=0.3, events_per_second=20.0)  # fmt: skip
    return [e.event for e in ClickstreamGenerator(cfg, start_time_ms=0).take(n)]


def _replay(events: list[dict[str, Any]], batch: int, limits: GraphLimits) -> DictStore:
    store = DictStore()
    for i in range(0, len(events), batch):
        st = ClickGraphState(store, limits)
        st.update(events[i : i + batch])
        st.flush()
    return store


def test_graph_is_a_pure_function_of_the_events_so_a_replay_rebuilds_it() -> None:
    events = _stream(3000)
    limits = GraphLimits(sweep_ms=60_000)
    one = _replay(events, 37, limits)
    # a different batching of the same events: the same nodes, byte for byte
    other = _replay(events, 256, limits)
    assert set(one) == set(other)
    assert {k: v for k, v in one.items() if k != "m:clock"} == {
        k: v for k, v in other.items() if k != "m:clock"
    }


def test_memory_is_bounded_by_links_cap_and_eviction() -> None:
    events = _stream(6000)  # 20 events/s: about five minutes of event time
    limits = GraphLimits(max_links=4, session_ttl_ms=30_000, product_ttl_ms=30_000,
                         user_ttl_ms=60_000, sweep_ms=8_000)  # fmt: skip
    store = _replay(events, 100, limits)
    st = ClickGraphState(store, limits)
    now = st.clock
    sessions = {e["session_id"] for e in events}
    kept = [k for k in store if k.startswith("s:")]
    assert 0 < len(kept) < len(sessions) / 2  # idle sessions were evicted
    for k in store:
        rec = st._get(k)
        if k[0] == "s":
            assert now - rec[6] <= limits.session_ttl_ms + limits.sweep_ms
            assert len(rec[-1]) <= 4
        elif k[0] in "pu":
            assert len(rec[-1]) <= 4
    # a stale link to an evicted session is skipped, not an error
    g = st.sample([kept[-1][2:]])
    assert g.x.shape[0] >= 2
