"""Terminal fraud streaks, per-row windows and customer-terminal graph features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.datasets.handbook import add_features
from fraudstream.datasets.handbook_graph import GRAPH_FEATURES, add_graph_features
from fraudstream.datasets.windows import EntityIndex
from fraudstream.errors import ValidationError

DAY = 86_400.0


def _random(n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ent = rng.integers(0, 6, n)
    t = np.sort(rng.integers(0, 50, n)).astype(float)  # integer times: many ties
    ev = rng.random(n) < 0.3
    return ent, t, ev


def test_event_age_matches_brute_force() -> None:
    ent, t, ev = _random()
    idx = EntityIndex.build(ent, t, 30.0)
    last = idx.event_age(ev, start=20.0, end=3.0)
    first = idx.event_age(ev, start=20.0, end=3.0, first=True)
    for i in range(ent.size):
        m = (ent == ent[i]) & ev & (t >= t[i] - 20.0) & (t < t[i] - 3.0)
        if not m.any():
            assert np.isnan(last[i]) and np.isnan(first[i])
        else:
            assert last[i] == t[i] - t[m].max()
            assert first[i] == t[i] - t[m].min()


def test_per_row_window_offsets_match_brute_force() -> None:
    ent, t, ev = _random(seed=2)
    v = ev.astype(float)
    start = np.random.default_rng(3).integers(1, 25, ent.size).astype(float)
    idx = EntityIndex.build(ent, t, 30.0)
    got = idx.window_sum(v, start=start, end=1.0)
    for i in range(ent.size):
        m = (ent == ent[i]) & (t >= t[i] - start[i]) & (t < t[i] - 1.0)
        assert got[i] == v[m].sum()
    with pytest.raises(ValueError, match="offsets"):
        idx.window_sum(v, start=start[:-1])
    with pytest.raises(ValueError, match="max_window"):
        idx.window_sum(v, start=1e12)


def _frame(days: list[float], fraud: list[int], terminal: list[int] | None = None) -> pd.DataFrame:
    sec = np.array(days) * DAY
    n = len(days)
    return pd.DataFrame(
        {
            "TX_DATETIME": pd.Timestamp("2018-04-01") + pd.to_timedelta(sec, unit="s"),
            "CUSTOMER_ID": np.arange(n),
            "TERMINAL_ID": terminal or [3] * n,
            "TX_AMOUNT": np.full(n, 20.0),
            "TX_TIME_SECONDS": sec,
            "TX_FRAUD": fraud,
        }
    )


def test_terminal_streak_by_hand() -> None:
    # Legit on day 0, frauds on days 2 and 3, then scored on days 8 and 11 (7-day delay).
    out = add_features(_frame([0, 2, 3, 8, 11], [0, 1, 1, 0, 0]))
    n = out["TERMINAL_ID_FRAUD_STREAK_N"].tolist()
    age = out["TERMINAL_ID_FRAUD_STREAK_AGE"].tolist()
    legit = out["TERMINAL_ID_LAST_LEGIT_AGE"].tolist()
    # Day 8 knows labels before day 1: only the legit day-0 row, no streak.
    assert n[3] == 0.0 and np.isnan(age[3]) and legit[3] == pytest.approx(8.0)
    # Day 11 knows labels before day 4: two frauds since the day-0 legit one.
    assert n[4] == 2.0 and age[4] == pytest.approx(9.0) and legit[4] == pytest.approx(11.0)
    # The day-8 legit row is younger than the delay at day 11: still unknown.


def test_streak_resets_after_a_known_legit_transaction() -> None:
    out = add_features(_frame([0, 1, 2, 12], [1, 1, 0, 0]))
    assert out["TERMINAL_ID_FRAUD_STREAK_N"].iloc[3] == 0.0
    assert out["TERMINAL_ID_LAST_LEGIT_AGE"].iloc[3] == pytest.approx(10.0)


def test_graph_features_match_brute_force() -> None:
    rng = np.random.default_rng(4)
    n = 300
    df = pd.DataFrame(
        {
            "CUSTOMER_ID": rng.integers(0, 10, n),
            "TERMINAL_ID": rng.integers(0, 4, n),
            "TX_TIME_SECONDS": np.sort(rng.integers(0, 60, n)).astype(float) * DAY,
            "TERMINAL_ID_RISK_30DAY_WINDOW": rng.random(n),
            "TERMINAL_ID_NB_FRAUD_DELAYED_30DAY": rng.integers(0, 3, n).astype(float),
            "CUSTOMER_ID_NB_FRAUD_DELAYED_14DAY": rng.integers(0, 2, n).astype(float),
        }
    )
    out = add_graph_features(df.copy(), window_days=10)
    t = df["TX_TIME_SECONDS"].to_numpy()
    for i in range(0, n, 5):
        win = (t >= t[i] - 10 * DAY) & (t < t[i])
        c = win & (df["CUSTOMER_ID"] == df["CUSTOMER_ID"].iloc[i]).to_numpy()
        k = win & (df["TERMINAL_ID"] == df["TERMINAL_ID"].iloc[i]).to_numpy()
        risk = df["TERMINAL_ID_RISK_30DAY_WINDOW"].to_numpy()[c]
        want = risk.mean() if c.any() else np.nan
        assert out["GRAPH_CUSTOMER_TERMINALS_RISK"].iloc[i] == pytest.approx(want, nan_ok=True)
        known = (df["CUSTOMER_ID_NB_FRAUD_DELAYED_14DAY"].to_numpy()[k] > 0).sum()
        assert out["GRAPH_TERMINAL_CUSTOMERS_KNOWN"].iloc[i] == known
    assert set(GRAPH_FEATURES) <= set(out.columns)


def test_graph_features_need_the_handbook_columns() -> None:
    with pytest.raises(ValidationError, match="TERMINAL_ID_RISK_30DAY_WINDOW"):
        add_graph_features(pd.DataFrame({"CUSTOMER_ID": [1], "TERMINAL_ID": [1]}))
