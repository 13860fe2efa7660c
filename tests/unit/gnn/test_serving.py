"""The graph signal in the detector (settings), the saved live model, replay after a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fraudstream.bus.memory import MemoryBus
from fraudstream.detect import load_detector
from fraudstream.detect.gnn.live import LiveGraph, LiveGraphConfig
from fraudstream.detect.gnn.serving import graph_signal_from_settings, replay_into
from fraudstream.detect.gnn.signal import GraphSignal
from fraudstream.events.batch import TransactionBatch
from fraudstream.pipeline.state import PartitionStore
from fraudstream.settings import DetectionSettings, Settings


def _tx(card: str, t: int, **kw: object) -> dict[str, Any]:
    return {"card_id": card, "event_time": t, "amount": 10.0, **kw}


def _settings(tmp_path: Path, **graph: object) -> Settings:
    det = DetectionSettings(graph=True, **graph)  # type: ignore[arg-type]
    return Settings(model_dir=tmp_path / "models", detection=det)


def test_graph_off_by_default_and_on_from_settings(tmp_path: Path) -> None:
    assert load_detector(Settings(model_dir=tmp_path)).extra_signal is None
    det = load_detector(_settings(tmp_path, graph_weight=0.25, graph_fanout=4))
    assert isinstance(det.extra_signal, GraphSignal) and det.extra_weight == 0.25
    assert det.extra_signal.model is None and det.extra_signal.fanout == 4
    sig = det.extra_signal
    store = PartitionStore(0)
    det.score(TransactionBatch([_tx(f"f{i}", i, device_id="dev") for i in range(4)]), store)
    sig.feedback([f"f{i}" for i in range(4)], 10)
    d = det.score(TransactionBatch([_tx("victim", 20, device_id="dev"), _tx("x", 21)]), store)
    assert "graph:device_shared_with_4_flagged_cards_24h" in d.reasons[0]
    assert not any(r.startswith("graph:") for r in d.reasons[1])


def test_saved_live_model_is_loaded_by_the_detector(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    from fraudstream.detect.gnn.live_model import save_live_model
    from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier
    from fraudstream.errors import ConfigError

    torch.manual_seed(1)
    model = FraudNodeClassifier(9, hidden_channels=8).eval()
    save_live_model(model, tmp_path / "models" / "live-gnn", events=1)
    sig = graph_signal_from_settings(_settings(tmp_path))
    assert sig.model is not None
    batch = TransactionBatch([_tx("a", 0, device_id="d"), _tx("b", 1, device_id="d")])
    scores, _ = sig(batch)
    ref = GraphSignal(model, LiveGraph())
    np.testing.assert_allclose(scores, ref(batch)[0], rtol=1e-6)
    assert np.all((scores > 0) & (scores < 1))
    meta = tmp_path / "models" / "live-gnn" / "live_gnn.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "node_features": ["x"]}))
    with pytest.raises(ConfigError):
        graph_signal_from_settings(_settings(tmp_path))


def test_replay_from_the_topic_rebuilds_the_same_graph() -> None:
    rng = np.random.default_rng(0)
    recs = [
        _tx(f"c{rng.integers(30)}", i * 1000, device_id=f"d{rng.integers(8)}",
            merchant_id=f"m{rng.integers(5)}")
        for i in range(500)
    ]  # fmt: skip
    bus = MemoryBus()
    bus.create_topics({"transactions": 3})
    producer = bus.producer()
    for r in recs[:400]:  # per card: partition order is the card's event order
        producer.produce("transactions", json.dumps(r).encode(), key=r["card_id"].encode())
    cfg = LiveGraphConfig(max_neighbours=4, evict_every=1_000_000)
    g = LiveGraph(cfg)

    def decode(values: list[bytes]) -> list[dict[str, Any]]:
        return [json.loads(v) for v in values]

    assert replay_into(g, bus, "transactions", decode) == 400
    # Partitions interleave differently from the original order, but each card's
    # records keep theirs: cards' rows are exactly those of a one-shot rebuild.
    ref = LiveGraph.rebuild(recs[:400], cfg)
    assert g.num_nodes == ref.num_nodes and g.num_edges == ref.num_edges
    cards = [k for k in ref.nodes if k.startswith("card:")]
    assert {k: g.neighbours(k) for k in cards} == {k: ref.neighbours(k) for k in cards}
