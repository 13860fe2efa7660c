"""Domain validation of transactions (values the Avro schema cannot express)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.errors import ValidationError
from fraudstream.events.validate import (
    TransactionLimits,
    validate_transaction,
    validate_transactions,
)

from .test_serde import tx

NOW = 1_700_000_000_000


def test_a_plausible_transaction_passes() -> None:
    validate_transaction(tx(), NOW)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"transaction_id": ""}, "transaction_id"),
        ({"card_id": None}, "card_id"),
        ({"merchant_id": "   "}, "merchant_id"),
        ({"account_id": "x" * 300}, "account_id"),
        ({"amount": 0.0}, "amount"),
        ({"amount": -5.0}, "amount"),
        ({"amount": math.nan}, "amount"),
        ({"amount": math.inf}, "amount"),
        ({"amount": 1.234}, "amount"),
        ({"amount": "10"}, "amount"),
        ({"amount": 2e9}, "amount"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"merchant_country": "ZZ"}, "merchant_country"),
        ({"customer_country": "FRA"}, "customer_country"),
        ({"channel": "PHONE"}, "channel"),
        ({"tx_type": "REFUND"}, "tx_type"),
        ({"event_time": NOW + 10 * 60_000}, "event_time"),
        ({"event_time": 0}, "event_time"),
        ({"event_time": "2024-01-01"}, "event_time"),
    ],
)
def test_implausible_values_name_the_field(override: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_transaction(tx(**override), NOW)
    assert info.value.field == field
    assert info.value.reason_code == "validation_failed"


def test_limits_are_configurable() -> None:
    ahead = tx(event_time=NOW + 10 * 60_000)
    validate_transaction(ahead, NOW, TransactionLimits(max_future_ms=15 * 60_000))
    with pytest.raises(ValidationError):
        validate_transaction(tx(amount=500.0), NOW, TransactionLimits(max_amount=100.0))


def test_two_decimal_amounts_pass() -> None:
    for amount in (0.01, 0.1, 19.99, 1234567.89, 100):
        validate_transaction(tx(amount=amount), NOW)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "amount": st.one_of(
                    st.floats(allow_nan=True), st.integers(-5, 5), st.none(), st.text(max_size=3)
                ),
                "currency": st.sampled_from(["EUR", "USD", "XXX", None]),
                "channel": st.sampled_from(["POS", "ECOM", "FAX"]),
                "event_time": st.one_of(st.integers(0, NOW * 2), st.floats()),
                "card_id": st.sampled_from(["c", "", None]),
            }
        ),
        max_size=20,
    )
)
def test_batch_form_agrees_with_the_scalar_form(overrides: list[dict[str, Any]]) -> None:
    recs = [tx(**o) for o in overrides]
    batch = validate_transactions(recs, NOW)
    for rec, err in zip(recs, batch, strict=True):
        try:
            validate_transaction(rec, NOW)
            expected = None
        except ValidationError as exc:
            expected = exc.field
        assert (err.field if err else None) == expected
