"""Event records -> table rows, and in-batch de-duplication."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fraudstream.bench.sink import alert_of, scored_record
from fraudstream.errors import ValidationError
from fraudstream.store.records import alert_row, feedback_row, score_row, to_datetime
from fraudstream.store.repository import SinkBatch, dedupe


def test_score_row_maps_every_column_and_converts_times() -> None:
    rec = scored_record("r", 20, 1_700_000_000_000)
    row = score_row(rec)
    assert row["transaction_id"] == "r-00000020" and row["action"] == "BLOCK"
    assert row["scored_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert row["reasons"] == ["amount_zscore", "velocity_card_1h"]
    assert row["features"] == {"amount": 12.5, "velocity_card_1h": 6.0}
    assert alert_row(alert_of(rec))["created_at"] == row["scored_at"]


def test_missing_fields_and_bad_labels_name_the_field() -> None:
    rec = scored_record("r", 1, 0)
    del rec["fraud_score"]
    with pytest.raises(ValidationError, match="fraud_score"):
        score_row(rec)
    fb = {"transaction_id": "t", "label": "maybe", "analyst": "a", "created_at": 0}
    with pytest.raises(ValidationError, match="label"):
        feedback_row(fb)
    with pytest.raises(ValidationError, match="created_at"):
        to_datetime("yesterday", "created_at")


def test_dedupe_keeps_the_last_row_per_key_in_first_seen_order() -> None:
    rows = [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}, {"k": 1, "v": "c"}]
    assert dedupe(rows, ["k"]) == [{"k": 1, "v": "c"}, {"k": 2, "v": "b"}]
    assert len(SinkBatch(scores=rows, feedback=rows[:1])) == 4
