"""Smoke test of the detection benchmark on tiny data (figures are not asserted)."""

from __future__ import annotations

from fraudstream.bench.scoring import run_bench


def test_scoring_bench_runs_and_reports() -> None:
    fig = run_bench(
        records=1024, train_records=3000, model_kind="lightgbm", core=None, n_customers=500
    )
    assert fig["records_timed"] == 1024
    assert fig["overall_tx_per_s"] > 0 and fig["p99_batch_ms"] >= fig["p50_batch_ms"] > 0
    assert set(fig["stage_us_per_tx"]) == {"features", "rules", "model", "decision", "explain"}
    assert set(fig["stage_cpu_us_per_tx"]) == set(fig["stage_us_per_tx"])
    assert all(v >= 0 for v in fig["stage_cpu_us_per_tx"].values())
    assert fig["detector"].startswith("lightgbm-bench-")
    assert 0 <= fig["alert_rate"] <= 1


def test_composition_reports_weights_and_tree_count() -> None:
    import numpy as np

    from fraudstream.bench.scoring import composition
    from fraudstream.detect.models.ensemble import WeightedEnsemble
    from fraudstream.detect.models.gbm import GradientBoostingModel
    from fraudstream.detect.models.online import OnlineLogisticModel

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    y = (x[:, 0] > 1).astype(int)
    gbm = GradientBoostingModel(("u", "v"), n_estimators=7, n_jobs=1).fit(x, y)
    sgd = OnlineLogisticModel(("u", "v")).fit(x, y)
    ens = WeightedEnsemble({"gbm": gbm, "online": sgd}, {"gbm": 3.0, "online": 0.0})
    assert composition(ens) == {"gbm": 1.0, "online": 0.0, "gbm_trees": 7}
    assert composition(gbm) is None
