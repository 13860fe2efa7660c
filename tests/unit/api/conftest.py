"""An API on the memory bus and a SQLite file, with one key per role."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fraudstream.api.app import create_app
from fraudstream.bus.memory import MemoryBus
from fraudstream.detect.base import Decisions, KeyValueStore
from fraudstream.events.batch import TransactionBatch
from fraudstream.settings import Settings

with warnings.catch_warnings():
    # Starlette nags about httpx vs httpx2 on import; the client works the same.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

KEYS = {"ingest": "ingest-key-1", "analyst": "analyst-key-1", "admin": "admin-key-1"}


def headers(role: str, **extra: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role], **extra}


class AmountDetector:
    """A deterministic detector for the API tests: the score grows with the amount."""

    version = "test-amount-1"

    def score(self, batch: TransactionBatch, state: KeyValueStore) -> Decisions:
        amount = batch.col("amount")
        score = np.clip(amount / 1000.0, 0.0, 1.0)
        level = np.where(score > 0.9, "CRITICAL", np.where(score > 0.5, "HIGH", "LOW"))
        action = np.where(score > 0.9, "BLOCK", np.where(score > 0.5, "REVIEW", "ALLOW"))
        return Decisions(
            score,
            level.astype(object),
            action.astype(object),
            [["amount"] for _ in range(len(batch))],
            self.version,
        )


@dataclass
class Api:
    client: TestClient
    bus: MemoryBus
    settings: Settings


def make_settings(tmp_path: Path, **api: object) -> Settings:
    keys = [{"name": f"{role}-user", "key": key, "roles": [role]} for role, key in KEYS.items()]
    return Settings(
        bus="memory",
        database={"url": f"sqlite:///{tmp_path / 'api.db'}"},
        api={"api_keys": keys, "card_hash_key": "test-card-key", **api},
        topics={"transactions_partitions": 2},
    )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = make_settings(tmp_path, max_body_bytes=64_000, max_batch_payments=50)
    bus = MemoryBus()
    with TestClient(create_app(settings, bus=bus, detector=AmountDetector())) as client:
        yield Api(client, bus, settings)


def payment(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "amount": "42.50",
        "currency": "EUR",
        "merchant_id": "m-1",
        "merchant_category": "grocery",
        "merchant_country": "FR",
        "customer_country": "FR",
        "customer_id": "u-1",
        "account_id": "a-1",
        "channel": "ECOM",
        "card_number": "4242424242424242",
        "ip_address": "10.0.0.1",
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}
