"""User-session-product graph: structure, features, labels; scored records keep the event."""

from __future__ import annotations

import numpy as np
import pytest

from fraudstream.detect.gnn.clickstream import NUM_FEATURES, ClickGraph, session_labels
from fraudstream.errors import ValidationError


def _ev(
    i: int, user: str, sess: str, etype: str, product: int | None, status: str = "SUCCESS"
) -> dict[str, object]:
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
    g = ClickGraph.build(EVENTS)
    assert sorted(g.keys) == ["product:7", "session:s1", "session:s2", "user:u1", "user:u2"]
    assert g.x.shape == (5, NUM_FEATURES)
    assert g.edge_index.shape == (2, 8)  # s1-u1, s1-p7, s2-u2, s2-p7, both ways
    s2 = g.keys.index("session:s2")
    assert g.x[s2, 0] == 1.0 and g.x[s2, 4] == pytest.approx(0.5)  # half its events failed
    assert g.session_of_event.tolist() == [g.keys.index("session:s1")] * 2 + [s2] * 2
    y = session_labels(g, [False, False, True, False])
    assert y[s2] == 1 and y.sum() == 1


def test_missing_ids_raise_typed_error() -> None:
    with pytest.raises(ValidationError):
        ClickGraph.build([{"event_id": "x", "session_id": "s"}])


def test_scored_records_keep_original_fields() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    from fraudstream.detect.gnn.clickstream import score_events
    from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier

    model = FraudNodeClassifier(NUM_FEATURES, hidden_channels=8)
    out = score_events(model, EVENTS, threshold=0.5, model_version="gnn-click-test", scored_at_ms=5)
    assert len(out) == 4
    for orig, rec in zip(EVENTS, out, strict=True):
        assert {k: rec[k] for k in orig} == orig
        assert 0.0 <= rec["fraud_score"] <= 1.0 and rec["is_fraud"] == (rec["fraud_score"] >= 0.5)
        assert rec["model_version"] == "gnn-click-test" and rec["scored_at"] == 5
    # events of one session share the session's score
    assert out[0]["fraud_score"] == out[1]["fraud_score"]
    assert np.isfinite([r["fraud_score"] for r in out]).all()
