"""Helpers for the pipeline unit tests."""

from __future__ import annotations

from typing import Any

import pytest

NOW_S = 1_700_000_000.0  # the injected clock
NOW_MS = int(NOW_S * 1000)


def tx(i: int, card: str = "c1", amount: float = 25.0, **over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "transaction_id": f"t{i}",
        "event_time": NOW_MS - 3_600_000 + i * 1000,
        "card_id": card,
        "account_id": f"a-{card}",
        "customer_id": f"u-{card}",
        "merchant_id": "m1",
        "merchant_category": "grocery",
        "merchant_country": "FR",
        "customer_country": "FR",
        "amount": amount,
        "currency": "EUR",
        "channel": "POS",
        "tx_type": "PURCHASE",
        "device_id": None,
        "ip_address": None,
        "counterparty_account_id": None,
        "card_last4": None,
        "is_fraud": False,
        "fraud_scenario": None,
    }
    rec.update(over)
    return rec


@pytest.fixture
def clock() -> Any:
    return lambda: NOW_S
