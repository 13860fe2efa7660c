"""Online (state store, batches, partitions) and offline (sorted frame) features agree."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from fraudstream.events.batch import TransactionBatch
from fraudstream.features.contract import FEATURE_INDEX, FEATURE_NAMES, WINDOW_KEYS
from fraudstream.features.offline import offline_features
from fraudstream.features.online import OnlineFeatures
from tests.unit.features.streams import DictStore, make_stream

CARD_ONLY = [
    i
    for i, f in enumerate(FEATURE_NAMES)
    if not any(f"_by_{k}_" in f for k, _ in WINDOW_KEYS if k != "card")
]


def run_online(records: list[dict], partitions: int, seed: int = 0) -> np.ndarray:
    """Feed the stream partition by partition in random-sized batches; rows in stream order."""
    rng = np.random.default_rng(seed)
    part = np.array([zlib.crc32(r["card_id"].encode()) % partitions for r in records])
    stores = [DictStore() for _ in range(partitions)]
    feats = OnlineFeatures()
    out = np.full((len(records), len(FEATURE_NAMES)), np.nan)
    pending = [list(np.flatnonzero(part == p)) for p in range(partitions)]
    # Interleave partitions like a consumer would: batches of 1..700 records.
    while any(pending):
        p = int(rng.choice([i for i, q in enumerate(pending) if q]))
        size = int(rng.integers(1, 700))
        idx, pending[p] = pending[p][:size], pending[p][size:]
        out[idx] = feats.transform(TransactionBatch([records[i] for i in idx]), stores[p])
    return out


def offline_by_partition(records: list[dict], partitions: int) -> np.ndarray:
    df = pd.DataFrame(records)
    part = df["card_id"].map(lambda c: zlib.crc32(c.encode()) % partitions).to_numpy()
    out = np.full((len(df), len(FEATURE_NAMES)), np.nan)
    for p in range(partitions):
        rows = np.flatnonzero(part == p)
        out[rows] = offline_features(df.iloc[rows].reset_index(drop=True))
    return out


def assert_same(a: np.ndarray, b: np.ndarray, cols: list[int]) -> None:
    for c in cols:
        ok = np.isclose(a[:, c], b[:, c], rtol=1e-9, atol=1e-6, equal_nan=True)
        bad = np.flatnonzero(~ok)
        assert bad.size == 0, (FEATURE_NAMES[c], bad[:5], a[bad[:5], c], b[bad[:5], c])


@pytest.mark.parametrize("partitions", [1, 3])
def test_online_equals_offline_per_partition(partitions: int) -> None:
    records = make_stream()
    online = run_online(records, partitions)
    offline = offline_by_partition(records, partitions)
    assert_same(online, offline, list(range(len(FEATURE_NAMES))))


def test_card_features_are_global_whatever_the_partitioning() -> None:
    # Cards are the partition key, so card features do not depend on the split.
    records = make_stream(seed=11)
    online = run_online(records, 4, seed=3)
    offline = offline_features(pd.DataFrame(records))
    assert_same(online, offline, CARD_ONLY)


def test_stream_exercises_the_features() -> None:
    # Guard against a vacuous equality: the stream must hit every kind of value.
    x = offline_features(pd.DataFrame(make_stream()))
    f = FEATURE_INDEX
    assert x[:, f["count_by_card_1m"]].max() >= 3
    assert np.nanmax(x[:, f["count_by_device_24h"]]) > 10
    assert np.isnan(x[:, f["count_by_device_1h"]]).any()
    assert x[:, f["is_new_device_for_card"]].sum() > 10
    assert x[:, f["is_new_country_for_card"]].sum() > 10
    assert x[:, f["distinct_merchants_by_card_1h"]].max() >= 3
    assert np.nanmax(np.abs(x[:, f["amount_zscore_by_card"]])) > 2
    # 24 h eviction happens: some card has fewer events in 24 h than in its history.
    assert (x[:, f["count_by_card_24h"]] < x[:, f["history_count_by_card"]]).any()


def test_late_events_agree_and_never_see_the_future() -> None:
    records = make_stream(n=800, seed=5)
    rng = np.random.default_rng(1)
    for i in rng.choice(len(records), 60, replace=False):
        records[i] = {**records[i], "event_time": records[i]["event_time"] - 5_000_000}
    online = run_online(records, 2, seed=9)
    offline = offline_by_partition(records, 2)
    assert_same(online, offline, list(range(len(FEATURE_NAMES))))
    assert np.nanmin(online[:, FEATURE_INDEX["seconds_since_prev_by_card"]]) >= 0


def test_state_is_bounded_by_the_event_cap() -> None:
    store = DictStore()
    feats = OnlineFeatures(max_events=16)
    recs = [
        {"card_id": "c", "amount": 1.0, "event_time": i, "device_id": f"d{i}"} for i in range(100)
    ]
    x = feats.transform(TransactionBatch(recs), store)
    assert x[-1, FEATURE_INDEX["count_by_card_1m"]] == 100
    assert x[-1, FEATURE_INDEX["history_count_by_card"]] == 99
    assert len(store.data["w1/device/d5"]) == 16
    # 2 headers + 16 events + 32 seen devices + 1 seen country (None merchant country -> 0 skipped)
    assert len(store.data["w1/card/c"]) == 32 * (2 + 16 + 32)
    y = feats.transform(TransactionBatch([{**recs[0], "event_time": 200}]), store)
    assert y[0, FEATURE_INDEX["count_by_card_1m"]] == 17  # capped history + itself
    assert y[0, FEATURE_INDEX["history_count_by_card"]] == 100  # all-time count survives the cap


def test_online_equals_offline_on_the_generators_stream() -> None:
    from fraudstream.generate.transactions import GeneratorConfig, TransactionGenerator

    gen = TransactionGenerator(
        GeneratorConfig(seed=5, n_customers=400, n_merchants=150, fraud_rate=0.05)
    )
    records = [r for b in gen.batches(count=4000, batch_size=1000) for r in b]
    online = run_online(records, 3, seed=2)
    offline = offline_by_partition(records, 3)
    assert_same(online, offline, list(range(len(FEATURE_NAMES))))
    assert np.nanmax(online[:, FEATURE_INDEX["count_by_card_1m"]]) >= 3  # bursts are in it
