"""Click model: training smoke run, registry round trip, served scores and their state."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from fraudstream.detect.gnn.click_train import ClickTrainConfig, fit_click_model
from fraudstream.detect.gnn.clickstream import (
    ClickModel,
    GraphClickScorer,
    load_click_model,
    save_click_model,
    score_events,
)
from fraudstream.generate.clickstream import (
    ClickstreamConfig,
    ClickstreamGenerator,
    LabelledEvent,
)
from fraudstream.pipeline.clicks import load_click_scorer, score_user_events
from fraudstream.pipeline.state import PartitionStore


def _events(n: int, seed: int = 5) -> list[LabelledEvent]:
    cfg = ClickstreamConfig(seed=seed, bot_session_probability=0.2, new_session_probability=0.05,
                            returning_user_probability=0.2, events_per_second=20.0)  # fmt: skip
    return ClickstreamGenerator(cfg, start_time_ms=1_767_225_600_000).take(n)


@pytest.fixture(scope="module")
def model() -> ClickModel:
    cfg = ClickTrainConfig(batch=128, snapshot_every=1, hidden_channels=8, max_epochs=3)
    m, figures = fit_click_model(_events(2500), cfg, version="click-gnn-test")
    assert 0.0 <= figures["val_auprc"] <= 1.0 and figures["val_seed_nodes"] > 0
    return m


def test_model_pickles_without_torch_state_and_predicts_the_same(model: ClickModel) -> None:
    x = np.random.default_rng(0).random((5, len(model.feature_names)), dtype=np.float32)
    ei = np.array([[0, 1, 2, 3], [1, 0, 3, 2]])
    before = model.predict(x, ei)
    again = pickle.loads(pickle.dumps(model))
    assert again._net is None
    np.testing.assert_allclose(again.predict(x, ei), before)
    assert ((before >= 0) & (before <= 1)).all()


def test_registry_round_trip(model: ClickModel, tmp_path: Path) -> None:
    assert load_click_model(tmp_path) is None
    version = save_click_model(model, tmp_path, {"metrics": {"val_auprc": 0.5}})
    loaded = load_click_model(tmp_path)
    assert loaded is not None and loaded.version == f"click-gnn-{version}"
    assert loaded.threshold == model.threshold


def test_served_scores_follow_the_session_and_keep_the_event(model: ClickModel) -> None:
    events = [e.event for e in _events(600, seed=9)]
    out = score_events(model, events, scored_at_ms=7, batch=100)
    assert len(out) == len(events)
    for orig, rec in zip(events, out, strict=True):
        assert {k: rec[k] for k in orig} == orig
        assert rec["is_fraud"] == (rec["fraud_score"] >= model.threshold)
        assert rec["model_version"] == "click-gnn-test" and rec["scored_at"] == 7
    # events of one session in one batch share the session's score
    first = out[:100]
    by_session: dict[str, set[float]] = {}
    for r in first:
        by_session.setdefault(r["session_id"], set()).add(r["fraud_score"])
    assert all(len(v) == 1 for v in by_session.values())


def test_state_lives_in_the_partition_store_abort_and_changelog_restore(
    model: ClickModel,
) -> None:
    events = [dict(e.event) for e in _events(900, seed=11)]
    a, b, c = events[:300], events[300:600], events[600:]
    scorer = GraphClickScorer(model)
    live = PartitionStore(0)
    scorer(a, live)
    log = live.changelog()
    live.commit()
    assert any(k.startswith("s:") for k, _ in log)
    # an aborted batch leaves no trace in the graph
    before = live.snapshot()
    scorer(b, live)
    live.abort()
    assert live.snapshot() == before
    # a worker restored from the committed changelog scores exactly as the live one
    restored = PartitionStore(0)
    for k, v in log:
        restored.apply_changelog(k.encode(), v)
    d_live = scorer(b + c, live)
    d_restored = scorer(b + c, restored)
    np.testing.assert_array_equal(d_live.fraud_score, d_restored.fraud_score)
    assert live.snapshot() == restored.snapshot()


def test_the_pipeline_loads_the_model_or_logs_the_placeholder(
    model: ClickModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="fraudstream.pipeline.clicks"):
        assert load_click_scorer(tmp_path) is score_user_events
    assert "PLACEHOLDER" in caplog.text
    save_click_model(model, tmp_path, {})
    scorer: Any = load_click_scorer(tmp_path)
    assert isinstance(scorer, GraphClickScorer) and scorer.model_version == "click-gnn-v0001"
