"""A small deterministic transaction stream for feature tests (no generator needed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


class DictStore:
    """Minimal in-memory KeyValueStore for unit tests."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put(self, key: str, value: bytes) -> None:
        assert isinstance(value, bytes)
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def keys(self) -> Iterable[str]:
        return list(self.data)


def make_stream(n: int = 3000, seed: int = 7) -> list[dict[str, Any]]:
    """Time-sorted transactions over ~2 days with bursts, ties, shared devices and IPs."""
    rng = np.random.default_rng(seed)
    n_cards = 40
    gaps = rng.choice([0, 1_000, 20_000, 400_000, 3_000_000], size=n, p=[0.1, 0.3, 0.3, 0.2, 0.1])
    times = 1_700_000_000_000 + np.cumsum(gaps)
    countries = ["US", "GB", "DE", "FR", "ZZ"]
    records = []
    for i in range(n):
        card = int(rng.integers(n_cards)) if rng.random() > 0.3 else int(rng.integers(3))
        amount = float(np.round(rng.lognormal(3.5, 1.2), 2))
        if rng.random() < 0.05:
            amount = float(rng.choice([0.5, 1.0, 100.0, 950.0]))
        records.append(
            {
                "transaction_id": f"t{i}",
                "event_time": int(times[i]),
                "card_id": f"card-{card}",
                "account_id": f"acct-{card // 2}",
                "customer_id": f"cust-{card // 2}",
                "merchant_id": f"m-{int(rng.integers(25))}",
                "merchant_category": str(rng.choice(["grocery", "travel", "novel-cat"])),
                "merchant_country": str(rng.choice(countries)),
                "customer_country": "US",
                "amount": amount,
                "currency": str(rng.choice(["USD", "EUR"])),
                "channel": str(rng.choice(["POS", "ECOM", "WEIRD"])),
                "tx_type": "PURCHASE",
                "device_id": None if rng.random() < 0.2 else f"d-{int(rng.integers(30))}",
                "ip_address": None if rng.random() < 0.1 else f"10.0.0.{int(rng.integers(15))}",
                "is_fraud": bool(rng.random() < 0.02),
                "fraud_scenario": None,
            }
        )
    return records
