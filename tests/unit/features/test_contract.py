"""Feature contract, stateless features and the generic window function."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudstream.errors import ValidationError
from fraudstream.events.batch import TransactionBatch
from fraudstream.features.contract import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    LEAKAGE_FIELDS,
    stable_code,
    strip_leakage,
)
from fraudstream.features.offline import offline_features
from fraudstream.features.online import OnlineFeatures
from fraudstream.features.windows import rolling_by_key
from tests.unit.features.streams import DictStore, make_stream


def test_names_are_unique_and_self_describing() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    for name in (
        "amount_log",
        "count_by_card_1h",
        "amount_sum_by_device_24h",
        "amount_zscore_by_card",
        "distinct_merchants_by_card_1h",
        "is_new_device_for_card",
        "seconds_since_prev_by_card",
        "count_by_ip_1m",
    ):
        assert name in FEATURE_INDEX


def test_strip_leakage_removes_ground_truth_only() -> None:
    rec = make_stream(n=1)[0]
    clean = strip_leakage(rec)
    assert not LEAKAGE_FIELDS & set(clean)
    assert set(rec) - set(clean) == {"is_fraud", "fraud_scenario"}
    assert "is_fraud" in rec  # the input is not mutated


def test_leakage_fields_do_not_change_features() -> None:
    recs = make_stream(n=200)
    flipped = [{**r, "is_fraud": not r["is_fraud"], "fraud_scenario": "x"} for r in recs]
    a = offline_features(pd.DataFrame(recs))
    b = offline_features(pd.DataFrame(flipped))
    np.testing.assert_array_equal(a, b)


def test_stateless_values() -> None:
    recs = [
        {
            "card_id": "c",
            "event_time": 0,
            "amount": 1000.0,
            "merchant_country": "DE",
            "customer_country": "US",
            "currency": "USD",
            "channel": "ECOM",
            "tx_type": "PURCHASE",
            "merchant_category": "never-seen-category",
        },
        {
            "card_id": "c",
            "event_time": 5 * 86_400_000 + 3 * 3_600_000,
            "amount": 0.5,
            "merchant_country": "US",
            "customer_country": "US",
            "currency": "USD",
            "channel": "SPACESHIP",
            "tx_type": "PURCHASE",
        },
    ]
    x = OnlineFeatures().transform(TransactionBatch(recs), DictStore())
    f = FEATURE_INDEX
    assert x[0, f["amount_log"]] == pytest.approx(np.log1p(1000.0))
    assert x[:, f["is_round_amount"]].tolist() == [1.0, 0.0]
    assert x[:, f["is_micro_amount"]].tolist() == [0.0, 1.0]
    assert x[:, f["is_cross_border"]].tolist() == [1.0, 0.0]
    assert x[:, f["is_currency_mismatch"]].tolist() == [1.0, 0.0]  # DE uses EUR
    assert x[:, f["day_of_week"]].tolist() == [3.0, 1.0]  # 1970-01-01 Thu, 01-06 Tue
    assert x[:, f["hour_of_day"]].tolist() == [0.0, 3.0]
    assert x[0, f["merchant_category_code"]] == stable_code("never-seen-category") > 0
    assert x[1, f["merchant_category_code"]] == 0  # missing -> unknown bucket
    assert x[1, f["channel_code"]] == 0  # unseen channel -> unknown bucket
    assert np.isnan(x[:, f["count_by_device_1h"]]).all()  # no device: missing, not zero


def test_negative_amount_is_a_typed_error() -> None:
    with pytest.raises(ValidationError, match="amount"):
        OnlineFeatures().transform(
            TransactionBatch([{"card_id": "c", "event_time": 0, "amount": -1.0}]), DictStore()
        )


def test_rolling_by_key_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(0)
    n = 400
    keys = rng.choice(["a", "b", None, "c"], size=n)
    t = np.sort(rng.integers(0, 50_000, size=n))
    v = rng.random(n)
    out = rolling_by_key(keys, t, {"10s": 10}, v, include_current=False)
    for i in range(n):
        if keys[i] is None:
            assert np.isnan(out["count_10s"][i])
            continue
        prior = [j for j in range(i) if keys[j] == keys[i] and t[j] > t[i] - 10_000]
        assert out["count_10s"][i] == len(prior)
        assert out["sum_10s"][i] == pytest.approx(v[prior].sum(), abs=1e-9)


def test_prefetch_builds_the_same_columns_as_col() -> None:
    recs = make_stream(n=50)
    a, b = TransactionBatch(recs), TransactionBatch(recs)
    a.prefetch(["amount", "event_time", "device_id", "card_id"])
    for name in ("amount", "event_time", "device_id", "card_id"):
        assert a.col(name).tolist() == b.col(name).tolist()
        assert a.col(name).dtype == b.col(name).dtype
    # A record lacking a field falls back to None for it.
    c = TransactionBatch([{"card_id": "x"}, {"card_id": "y", "device_id": "d"}])
    c.prefetch(["card_id", "device_id"])
    assert c.col("device_id").tolist() == [None, "d"]
