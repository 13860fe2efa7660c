"""Handbook features are point-in-time correct and respect the label delay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.datasets.handbook import (
    BASELINE_FEATURES,
    WITH_GRAPH_FEATURES,
    add_features,
)
from fraudstream.datasets.windows import EntityIndex
from fraudstream.learn.handbook_protocol import handbook_folds

DAY = 86_400


def raw(n: int = 600, seed: int = 0, days: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, days * DAY, n))
    df = pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(n),
            "TX_DATETIME": pd.Timestamp("2018-04-01") + pd.to_timedelta(t, unit="s"),
            "CUSTOMER_ID": rng.integers(0, 8, n),
            "TERMINAL_ID": rng.integers(0, 5, n),
            "TX_AMOUNT": np.round(rng.lognormal(3.5, 0.6, n), 2),
            "TX_TIME_SECONDS": t,
            "TX_TIME_DAYS": t // DAY,
            "TX_FRAUD": (rng.random(n) < 0.1).astype(int),
        }
    )
    return df


def test_window_sum_matches_brute_force() -> None:
    df = raw(300)
    ent = df["TERMINAL_ID"].to_numpy()
    t = df["TX_TIME_SECONDS"].to_numpy().astype(float)
    v = df["TX_FRAUD"].to_numpy().astype(float)
    idx = EntityIndex.build(ent, t, 30 * DAY)
    got = idx.window_sum(v, start=10 * DAY, end=7 * DAY)
    incl = idx.window_sum(v, start=2 * DAY, include_current=True)
    for i in range(0, 300, 7):
        same = ent == ent[i]
        want = v[same & (t >= t[i] - 10 * DAY) & (t < t[i] - 7 * DAY)].sum()
        assert got[i] == want
        want_incl = v[same & (t > t[i] - 2 * DAY) & (t <= t[i]) & (np.arange(300) <= i)].sum()
        assert incl[i] == want_incl


def test_no_feature_depends_on_the_future() -> None:
    df = raw()
    base = add_features(df.copy())
    cut = 20 * DAY
    future = df["TX_TIME_SECONDS"] >= cut
    changed = df.copy()
    changed.loc[future, "TX_AMOUNT"] *= 7.0
    changed.loc[future, "TX_FRAUD"] = 1 - changed.loc[future, "TX_FRAUD"]
    again = add_features(changed)
    past = ~future.to_numpy()
    cols = list(WITH_GRAPH_FEATURES)
    pd.testing.assert_frame_equal(base.loc[past, cols], again.loc[past, cols])


def test_label_features_ignore_labels_younger_than_the_delay() -> None:
    df = raw()
    base = add_features(df.copy(), delay_days=7)
    # Flip every label of the last 7 days before the final transaction.
    t_last = df["TX_TIME_SECONDS"].max()
    recent = df["TX_TIME_SECONDS"] > t_last - 7 * DAY
    flipped = df.copy()
    flipped.loc[recent, "TX_FRAUD"] = 1 - flipped.loc[recent, "TX_FRAUD"]
    again = add_features(flipped, delay_days=7)
    label_cols = [
        c for c in WITH_GRAPH_FEATURES if any(k in c for k in ("RISK", "FRAUD", "LEGIT", "GRAPH"))
    ]
    assert label_cols
    last = df.index[-1]
    pd.testing.assert_series_equal(base.loc[last, label_cols], again.loc[last, label_cols])


def test_terminal_risk_by_hand() -> None:
    df = pd.DataFrame(
        {
            "TX_DATETIME": pd.to_datetime(
                ["2018-04-01 10:00", "2018-04-04 10:00", "2018-04-09 11:00"]
            ),
            "CUSTOMER_ID": [1, 2, 3],
            "TERMINAL_ID": [9, 9, 9],
            "TX_AMOUNT": [10.0, 20.0, 30.0],
            "TX_TIME_SECONDS": [36_000, 36_000 + 3 * DAY, 39_600 + 8 * DAY],
            "TX_FRAUD": [1, 0, 0],
        }
    )
    out = add_features(df, delay_days=7)
    # Day 3: the fraud of day 0 is younger than the delay -> unknown.
    assert out["TERMINAL_ID_RISK_7DAY_WINDOW"].tolist()[:2] == [0.0, 0.0]
    # Day 8 + 1 h: window [t-14d, t-7d) holds the day-0 fraud only -> risk 1/1.
    assert out["TERMINAL_ID_RISK_7DAY_WINDOW"].iloc[2] == pytest.approx(1.0)
    assert out["TERMINAL_ID_NB_TX_7DAY_WINDOW"].iloc[2] == 1.0
    assert set(BASELINE_FEATURES) <= set(out.columns)


def test_folds_follow_the_handbook_and_drop_known_compromised_cards() -> None:
    df = add_features(raw(n=3000, days=60))
    folds = list(handbook_folds(df, start="2018-05-01", n_folds=2))
    assert [str(f.start.date()) for f in folds] == ["2018-05-01", "2018-04-24"]
    f = folds[0]
    days = df["TX_TIME_DAYS"].to_numpy()
    assert days[f.train].min() == 30 and days[f.train].max() == 36
    assert days[f.test].min() >= 44 and days[f.test].max() <= 50  # after the 7-day delay
    known = set(df.iloc[f.train].query("TX_FRAUD == 1")["CUSTOMER_ID"])
    assert known and not known & set(df.iloc[f.test]["CUSTOMER_ID"])
    wide = next(iter(handbook_folds(df, start="2018-05-01", n_folds=1, train_days=21)))
    assert wide.train.size > f.train.size and np.array_equal(wide.test, f.test)
