"""The generated stream: schema, domain, determinism, fraud rate, legit realism."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pytest

from fraudstream.errors import ConfigError
from fraudstream.generate.columns import SCENARIOS
from fraudstream.generate.population import COUNTRIES, UTC_OFFSET_H, ip_country
from fraudstream.generate.transactions import TransactionGenerator

from .conftest import small_config

SCHEMA_PATH = (
    Path(__file__).parents[3] / "src" / "fraudstream" / "events" / "schemas" / "transaction.avsc"
)
CURRENCIES = {c[1] for c in COUNTRIES}
CODES = {c[0] for c in COUNTRIES}


def _records(n: int, batch_size: int = 1000, **over: Any) -> list[dict[str, Any]]:
    gen = TransactionGenerator(small_config(**over))
    return [r for b in gen.batches(n, batch_size) for r in b]


def test_every_record_fits_the_avro_schema(stream_records: list[dict[str, Any]]) -> None:
    schema = fastavro.parse_schema(json.loads(SCHEMA_PATH.read_text()))
    # fastavro's validator is slow: every fraud record and a slice of the legit ones.
    sample = stream_records[:6000] + [r for r in stream_records if r["is_fraud"]]
    for rec in sample:
        assert fastavro.validate(rec, schema, raise_errors=True)
        assert list(rec) == [f["name"] for f in schema["fields"]]


def test_records_are_domain_valid(stream_records: list[dict[str, Any]]) -> None:
    ids = [r["transaction_id"] for r in stream_records]
    assert len(set(ids)) == len(ids)
    for r in stream_records:
        assert r["amount"] > 0
        assert abs(r["amount"] * 100 - round(r["amount"] * 100)) < 1e-6
        assert r["currency"] in CURRENCIES
        assert r["merchant_country"] in CODES and r["customer_country"] in CODES
        assert re.fullmatch(r"card_\d{6}", r["card_id"])
        assert re.fullmatch(r"\d{4}", r["card_last4"])
        assert isinstance(r["event_time"], int)
        expected_type = {"POS": {"PURCHASE"}, "ECOM": {"PURCHASE"}, "ATM": {"CASH_OUT"}}
        allowed = expected_type.get(r["channel"], {"TRANSFER", "CASH_OUT"})
        assert r["tx_type"] in allowed
        assert (r["counterparty_account_id"] is not None) == (r["tx_type"] == "TRANSFER")
        assert (r["device_id"] is None) == (r["channel"] in ("POS", "ATM"))
        if r["ip_address"] is not None:
            assert ip_country(r["ip_address"]) in CODES


def test_event_time_never_goes_backwards(stream_records: list[dict[str, Any]]) -> None:
    t = np.array([r["event_time"] for r in stream_records])
    assert (np.diff(t) >= 0).all()
    assert t[0] >= int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)


def test_labels_are_consistent_and_all_scenarios_occur(
    stream_records: list[dict[str, Any]],
) -> None:
    for r in stream_records:
        if r["is_fraud"]:
            assert r["fraud_scenario"] in SCENARIOS
        else:
            assert r["is_fraud"] is False and r["fraud_scenario"] is None
    seen = Counter(r["fraud_scenario"] for r in stream_records if r["is_fraud"])
    assert set(seen) == set(SCENARIOS)


def test_same_seed_same_stream_whatever_the_batch_size() -> None:
    a = _records(12_000, batch_size=1000)
    b = _records(12_000, batch_size=777)
    assert a == b
    assert _records(5000) == a[:5000]  # a shorter run is a prefix
    assert _records(2000, seed=12) != a[:2000]


@pytest.mark.parametrize("rate", [0.005, 0.03])
def test_fraud_rate_follows_the_configuration(rate: float) -> None:
    recs = _records(60_000, batch_size=10_000, fraud_rate=rate)
    share = sum(r["is_fraud"] for r in recs) / len(recs)
    assert rate * 0.75 <= share <= rate * 1.25


def test_zero_fraud_rate_gives_only_legit_records() -> None:
    assert not any(r["is_fraud"] for r in _records(5000, fraud_rate=0.0))


def test_workers_split_cards_and_each_is_reproducible() -> None:
    cfg = small_config()
    w0 = TransactionGenerator(cfg, worker=0, workers=2)
    w1 = TransactionGenerator(cfg, worker=1, workers=2)
    a = [r for b in w0.batches(4000) for r in b]
    b = [r for b in w1.batches(4000) for r in b]
    legit = lambda rs: {r["card_id"] for r in rs if not r["is_fraud"]}  # noqa: E731
    assert not legit(a) & legit(b)
    again = TransactionGenerator(cfg, worker=1, workers=2)
    assert [r for x in again.batches(4000) for r in x] == b
    with pytest.raises(ConfigError):
        TransactionGenerator(cfg, worker=2, workers=2)


def test_unknown_scenario_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown fraud scenarios"):
        TransactionGenerator(small_config(scenario_weights={"phishing": 1.0}))


def test_legit_traffic_has_a_daily_rhythm_travel_and_new_devices(
    stream_records: list[dict[str, Any]],
) -> None:
    legit = [r for r in stream_records if not r["is_fraud"]]
    # The rhythm follows each customer's local time (one zone per country).
    offset = {c[0]: int(h) for c, h in zip(COUNTRIES, UTC_OFFSET_H, strict=True)}
    hours = Counter(
        (datetime.fromtimestamp(r["event_time"] / 1000, UTC).hour + offset[r["customer_country"]])
        % 24
        for r in legit
    )
    evening = sum(hours[h] for h in (17, 18, 19, 20))
    night = sum(hours[h] for h in (2, 3, 4, 5))
    assert evening > 4 * night
    abroad_pos = [r for r in legit if r["channel"] == "POS"]
    share_abroad = sum(r["merchant_country"] != r["customer_country"] for r in abroad_pos) / len(
        abroad_pos
    )
    assert 0.002 < share_abroad < 0.05  # customers travel, rarely
    # Per-customer habits: a customer's devices are few; a few legit devices are new.
    devices = defaultdict(Counter)
    for r in legit:
        if r["device_id"]:
            devices[r["customer_id"]][r["device_id"]] += 1
    per_customer = [len(d) for d in devices.values()]
    assert np.median(per_customer) <= 3
    singletons = sum(1 for d in devices.values() for n in d.values() if n == 1)
    assert singletons > 0
    # Spending level differs by customer (lognormal), amounts by category.
    by_cat = defaultdict(list)
    for r in legit:
        by_cat[r["merchant_category"]].append(r["amount"])
    assert np.median(by_cat["electronics"]) > 3 * np.median(by_cat["restaurants"])


def test_legit_sharing_and_bursts_exist_so_single_signals_are_not_proof(
    stream_records: list[dict[str, Any]],
) -> None:
    legit = [r for r in stream_records if not r["is_fraud"]]
    device_customers: dict[str, set[str]] = defaultdict(set)
    ip_customers: dict[str, set[str]] = defaultdict(set)
    for r in legit:
        if r["device_id"]:
            device_customers[r["device_id"]].add(r["customer_id"])
            ip_customers[r["ip_address"]].add(r["customer_id"])
    assert max(len(c) for c in device_customers.values()) >= 2  # households
    assert max(len(c) for c in ip_customers.values()) >= 10  # mobile carrier NAT
    # Shopping sessions: some legit cards visit several shops within an hour.
    visits: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for r in legit:
        visits[r["card_id"]].append((r["event_time"], r["merchant_id"]))
    bursts = 0
    for seq in visits.values():
        for i, (t, _) in enumerate(seq):
            if len({m for tt, m in seq[i:] if tt - t <= 3_600_000}) >= 4:
                bursts += 1
                break
    assert bursts >= 3


def test_stream_is_the_same_records_as_batches() -> None:
    import itertools

    gen = TransactionGenerator(small_config())
    streamed = list(itertools.islice(gen.stream(), 3000))
    assert streamed == _records(3000)


def test_bad_arguments_are_config_errors() -> None:
    gen = TransactionGenerator(small_config())
    with pytest.raises(ConfigError):
        next(gen.batches(10, batch_size=0))
    with pytest.raises(ConfigError, match="no customers"):
        TransactionGenerator(small_config(n_customers=50), worker=199, workers=200)


@pytest.mark.parametrize("seed", range(6))
def test_tiny_populations_still_generate_every_record(seed: int) -> None:
    for workers in (1, 2):
        for w in range(workers):
            cfg = small_config(seed=seed, n_customers=50, n_merchants=10, fraud_rate=0.1)
            gen = TransactionGenerator(cfg, worker=w, workers=workers)
            assert sum(len(b) for b in gen.batches(1500, 500)) == 1500
