"""The handbook report runs every feature set on the test folds and averages seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.datasets.base import Dataset
from fraudstream.datasets.handbook import SELECTED_FEATURES, add_features
from fraudstream.errors import ValidationError
from fraudstream.learn import handbook_protocol as hp
from fraudstream.learn.handbook_report import handbook_report

DAY = 86_400


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    # 2018-06-15 .. 2018-09-08: covers the four test folds (training weeks from 08-15 back).
    rng = np.random.default_rng(0)
    n, days = 4000, 85
    t = np.sort(rng.integers(0, days * DAY, n))
    df = pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(n),
            "TX_DATETIME": pd.Timestamp("2018-06-15") + pd.to_timedelta(t, unit="s"),
            "CUSTOMER_ID": rng.integers(0, 60, n),
            "TERMINAL_ID": rng.integers(0, 20, n),
            "TX_AMOUNT": np.round(rng.lognormal(3.5, 0.6, n), 2),
            "TX_TIME_SECONDS": t,
            "TX_TIME_DAYS": t // DAY,
        }
    )
    df["TX_FRAUD"] = ((df["TX_AMOUNT"] > 60) | (rng.random(n) < 0.03)).astype(int)
    return add_features(df)


def test_seed_average_is_recorded_and_checked(frame: pd.DataFrame) -> None:
    params = {"n_estimators": 5, "max_depth": 3, "learning_rate": 0.3}
    one = hp.evaluate_protocol(frame, SELECTED_FEATURES, n_folds=1, gbm_params=params)
    two = hp.evaluate_protocol(frame, SELECTED_FEATURES, n_folds=1, gbm_params=params, n_seeds=2)
    assert one["seeds"] == [0] and two["seeds"] == [0, 1]
    assert two["features"] == list(SELECTED_FEATURES)
    assert 0.5 < two["mean"]["roc_auc"] <= 1.0
    with pytest.raises(ValidationError, match="n_seeds"):
        hp.evaluate_protocol(frame, SELECTED_FEATURES, n_folds=1, n_seeds=0)


def test_report_has_the_graph_side_by_side(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = {"n_estimators": 5, "max_depth": 3, "learning_rate": 0.3}
    monkeypatch.setattr(hp, "DEFAULT_GBM_PARAMS", small)
    monkeypatch.setattr(hp, "WIDE_WINDOW_GBM_PARAMS", small)
    monkeypatch.setattr(hp, "SELECTED_GBM_PARAMS", small)
    monkeypatch.setattr(hp, "SELECTED_SEEDS", 2)
    ds = Dataset(
        name="handbook",
        frame=frame,
        feature_names=SELECTED_FEATURES,
        label_col="TX_FRAUD",
        time_col="TX_TIME_SECONDS",
        card_col="CUSTOMER_ID",
    )
    report = handbook_report(ds, train_days=[14])
    side = [k for k in report["tables"] if k.startswith("Graph feature signal")]
    assert len(side) == 1
    rows = report["tables"][side[0]]
    assert len(rows) == 3  # published, without, with
    with_graph = [r for r in report["runs"] if "graph" in r]
    assert len(report["runs"][with_graph[0]]["features"]) == len(SELECTED_FEATURES) + 4
    assert all(len(r["folds"]) == 4 for r in report["runs"].values())
