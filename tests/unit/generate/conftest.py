"""Shared small generator fixtures (small populations keep these tests to seconds)."""

from __future__ import annotations

from typing import Any

import pytest

from fraudstream.generate.transactions import GeneratorConfig, TransactionGenerator


def small_config(**over: Any) -> GeneratorConfig:
    base: dict[str, Any] = {"seed": 11, "n_customers": 3000, "n_merchants": 1500}
    base.update(over)
    return GeneratorConfig(**base)


@pytest.fixture(scope="package")
def stream_records() -> list[dict[str, Any]]:
    """40,000 records at a 2% fraud rate (enough instances of every scenario)."""
    gen = TransactionGenerator(small_config(fraud_rate=0.02))
    return [r for batch in gen.batches(40_000, 5000) for r in batch]
