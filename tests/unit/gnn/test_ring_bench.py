"""The ring benchmark's summary and table (pure logic; the full run is a command)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fraudstream.bench.gnn_rings import _figures, summarise, to_markdown


def _run(seed: int, shift: float) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    y = np.zeros(1000, dtype=bool)
    y[:20] = True
    scen = np.array([None] * 1000, dtype=object)
    scen[:10] = "fraud_ring"
    scen[10:20] = "card_testing"
    score = rng.random(1000) * 0.5
    score[:10] += shift  # the rings rank first when shifted
    proto = {"test_events": 1000, "test_frauds": 20, "test_ring_mule": 10}
    figs = {name: _figures(score, y, scen) for name in ("tabular", "gnn_only", "tabular+gnn")}
    return {"seed": seed, "unseen_rings": {**proto, **figs}, "same_world": {**proto, **figs}}


def test_figures_recall_per_scenario_at_the_budget() -> None:
    f = _run(0, shift=1.0)["unseen_rings"]["tabular"]  # type: ignore[index]
    # 0.5 % of 1,000 = 5 alerts, all on rings: 5 of 10 rings, none of the testers.
    assert f["recall_fraud_ring"] == pytest.approx(0.5)
    assert f["recall_ring_mule"] == pytest.approx(0.5)
    assert f["recall_card_testing"] == 0.0
    assert math.isnan(f["recall_mule_chain"])  # no mule in this test slice
    assert f["recall_all_fraud"] == pytest.approx(0.25)


def test_summary_means_and_stds_over_seeds_and_the_table() -> None:
    res = summarise([_run(0, 1.0), _run(1, 0.0)], n_events=1000, fraud_rate=0.02)
    m = res["mean_std"]["unseen_rings"]["tabular"]["recall_fraud_ring"]
    assert m["mean"] < 0.5 and m["std"] > 0  # the unshifted seed finds fewer rings
    assert res["seeds"] == [0, 1]
    md = to_markdown(res)
    assert "| tabular+gnn |" in md and "unseen_rings" in md and "same_world" in md


def test_main_writes_strict_json_and_markdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from fraudstream.bench import gnn_rings

    monkeypatch.setattr(gnn_rings, "run_seed", lambda n, seed, epochs, rate: _run(seed, 1.0))
    out = tmp_path / "rings.json"
    res = gnn_rings.main(out, n_events=1000, memory_events=0, seeds=2)
    assert res["seeds"] == [7, 8]
    text = out.read_text()
    assert "NaN" not in text
    assert (
        json.loads(text)["mean_std"]["unseen_rings"]["tabular"]["recall_mule_chain"]["mean"] is None
    )
    assert "| tabular |" in out.with_suffix(".md").read_text()
