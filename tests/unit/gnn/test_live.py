"""Live graph: links, caps, decay, eviction, sampling, rebuild; the graph signal."""

from __future__ import annotations

import numpy as np
import pytest

from fraudstream.detect.gnn.live import NODE_FEATURES, LiveGraph, LiveGraphConfig
from fraudstream.detect.gnn.signal import GraphSignal
from fraudstream.errors import ValidationError
from fraudstream.events.batch import TransactionBatch

DAY = 86_400_000


def _tx(card: str, t: int, **kw: object) -> dict[str, object]:
    return {"card_id": card, "event_time": t, "amount": 10.0, **kw}


def test_links_both_ways_and_counts() -> None:
    g = LiveGraph()
    g.update([_tx("c1", 0, device_id="d", merchant_id="m", ip_address=None)])
    assert sorted(g.neighbours("card:c1")) == ["device:d", "merchant:m"]
    assert g.neighbours("device:d") == ["card:c1"]
    assert g.num_edges == 4
    f = g.node_features(["card:c1", "device:zz"])
    assert f.shape == (2, len(NODE_FEATURES))
    assert f[0, 0] == 1.0 and f[1, 4] == 1.0 and f[1, 6:].sum() == 0  # unseen: one-hot only


def test_neighbour_cap_drops_least_recent() -> None:
    g = LiveGraph(LiveGraphConfig(max_neighbours=3))
    g.update([_tx(f"c{i}", i, merchant_id="m") for i in range(5)])
    assert g.neighbours("merchant:m") == ["card:c2", "card:c3", "card:c4"]
    # seeing c2 again makes it the most recent
    g.update([_tx("c2", 10, merchant_id="m"), _tx("c9", 11, merchant_id="m")])
    assert g.neighbours("merchant:m") == ["card:c4", "card:c2", "card:c9"]


def test_flags_decay_with_half_life() -> None:
    g = LiveGraph(LiveGraphConfig(half_life_s=86_400))
    g.update([_tx("c1", 0)])
    g.flag(["card:c1"], 0)
    node = g.nodes["card:c1"]
    assert g.flag_value(node, 0) == pytest.approx(1.0)
    assert g.flag_value(node, DAY) == pytest.approx(0.5)


def test_cold_nodes_are_evicted_with_their_links() -> None:
    g = LiveGraph(LiveGraphConfig(cold_after_s=86_400, edge_ttl_s=86_400))
    g.update([_tx("old", 0, device_id="d1"), _tx("new", 3 * DAY, device_id="d2", merchant_id="m")])
    assert g.evict() == 2  # card:old and device:d1
    assert "card:old" not in g.nodes and "device:d1" not in g.nodes
    assert g.num_nodes == 3


def test_sample_khop_with_fanout() -> None:
    g = LiveGraph()
    g.update([_tx("a", 0, device_id="d"), _tx("b", 1, device_id="d", ip_address="ip")])
    g.update([_tx("c", 2, ip_address="ip")])
    nodes, ei = g.sample(["card:a"], hops=1)
    assert nodes == ["card:a", "device:d"] and ei.shape == (2, 2)
    nodes2, ei2 = g.sample(["card:a"], hops=3)
    assert set(nodes2) == {"card:a", "device:d", "card:b", "ip:ip"}
    assert ei2.max() < len(nodes2)
    nodes3, _ = g.sample(["card:a"], hops=2, fanout=1)
    assert len(nodes3) == 3


def test_rebuild_equals_incremental() -> None:
    recs = [
        _tx(f"c{i % 7}", i * 1000, device_id=f"d{i % 3}", merchant_id=f"m{i % 5}")
        for i in range(50)
    ]
    g1 = LiveGraph()
    for i in range(0, 50, 8):
        g1.update(recs[i : i + 8])
    g2 = LiveGraph.rebuild(recs)
    assert {k: list(n.nbrs) for k, n in g1.nodes.items()} == {
        k: list(n.nbrs) for k, n in g2.nodes.items()
    }


def test_bad_record_raises_typed_error() -> None:
    with pytest.raises(ValidationError):
        LiveGraph().update([{"event_time": 0}])


def test_signal_reasons_name_flagged_shared_device() -> None:
    sig = GraphSignal(model=None)
    sig(TransactionBatch([_tx(f"f{i}", i, device_id="dev") for i in range(4)]))
    sig.feedback([f"f{i}" for i in range(4)], 10)
    scores, reasons = sig(TransactionBatch([_tx("victim", 20, device_id="dev"), _tx("x", 21)]))
    assert scores.shape == (2,)
    assert "graph:device_shared_with_4_flagged_cards_24h" in reasons[0]
    assert "graph:device_shared_by_5_cards" in reasons[0]
    assert reasons[1] == []


def test_signal_with_model_scores_once_per_batch() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    from fraudstream.detect.gnn.signal import train_live_model

    rng = np.random.default_rng(0)
    recs: list[dict[str, object]] = []
    for i in range(300):  # a ring: 10 fraud cards on 2 devices; legit cards on own devices
        fraud = i % 30 == 0
        card = f"r{(i // 30) % 10}" if fraud else f"c{i}"
        dev = f"ring{i % 2}" if fraud else f"d{i}"
        recs.append(
            _tx(card, i * 1000, device_id=dev, merchant_id=f"m{rng.integers(20)}", is_fraud=fraud)
        )
    model, graph = train_live_model(recs, max_epochs=5)
    calls = []  # the head runs once per model pass (the encoder is cached per node)
    model.head1.register_forward_hook(lambda *a: calls.append(1))
    sig = GraphSignal(model=model, graph=graph)
    scores, reasons = sig(
        TransactionBatch([_tx("new1", 400_000, device_id="ring0"), _tx("c5", 400_001)])
    )
    assert len(calls) == 1
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    assert isinstance(torch.tensor(scores), torch.Tensor) and len(reasons) == 2
