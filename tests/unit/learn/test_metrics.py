"""Evaluation metrics on cases small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fraudstream.errors import ValidationError
from fraudstream.learn import metrics as m
from fraudstream.learn.evaluation import markdown_table, temporal_split, write_report


def test_roc_auc_and_average_precision_by_hand() -> None:
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    # Pairs (pos, neg): (0.9>0.8) (0.9>0.1) (0.7<0.8) (0.7>0.1) -> 3/4.
    assert m.roc_auc(y, s) == pytest.approx(0.75)
    # Precision at each positive: 1/1 and 2/3 -> mean 5/6.
    assert m.average_precision(y, s) == pytest.approx(5 / 6)
    assert math.isnan(m.roc_auc(np.zeros(3), np.ones(3)))


def test_precision_at_k_and_recall_at_budget() -> None:
    y = np.array([0, 1, 0, 1, 0, 0, 0, 0, 0, 1])
    s = np.arange(10) / 10.0  # highest score is the last row
    assert m.precision_at_k(y, s, 2) == pytest.approx(0.5)  # rows 9 (fraud), 8
    assert m.precision_at_k(y, s, 100) == pytest.approx(0.3)  # k capped at n
    assert m.recall_at_budget(y, s, 0.1) == pytest.approx(1 / 3)  # top 1 row of 10
    assert m.recall_at_budget(y, s, 0.7) == pytest.approx(2 / 3)  # rows 3..9
    with pytest.raises(ValidationError):
        m.recall_at_budget(y, s, 0.0)


def test_ties_resolve_to_the_earlier_row() -> None:
    mask = m.alert_mask_at_budget(np.array([0.5, 0.5, 0.5, 0.1]), 0.5)
    assert mask.tolist() == [True, True, False, False]


def test_card_precision_per_day_both_variants() -> None:
    day = np.array([0, 0, 0, 0, 1, 1, 1])
    card = np.array([1, 1, 2, 3, 1, 2, 3])
    y = np.array([0, 1, 0, 0, 1, 0, 1])
    s = np.array([0.2, 0.9, 0.8, 0.1, 0.9, 0.5, 0.4])
    # Day 0: card max scores 1:.9 (fraud) 2:.8 3:.1 -> top-2 = {1, 2}: 1/2.
    # Day 1 plain: 1:.9 (fraud) 2:.5 3:.4 (fraud) -> top-2 = {1, 2}: 1/2.
    assert m.card_precision_at_k(day, card, y, s, k=2) == pytest.approx(0.5)
    # Handbook variant: card 1 was detected on day 0 and is dropped on day 1,
    # leaving {2, 3} -> 1/2; mean still 0.5. With k=1: day0 1/1, day1 top is card 2 -> 0.
    assert m.card_precision_at_k(day, card, y, s, k=1) == pytest.approx(1.0)
    assert m.card_precision_at_k(day, card, y, s, k=1, remove_detected=True) == pytest.approx(0.5)


def test_mismatched_or_nan_scores_are_rejected() -> None:
    with pytest.raises(ValidationError):
        m.roc_auc(np.array([0, 1]), np.array([0.1]))
    with pytest.raises(ValidationError):
        m.roc_auc(np.array([0, 1]), np.array([0.1, np.nan]))


def test_temporal_split_keeps_order_and_ties_together() -> None:
    t = np.array([3, 1, 2, 2, 5, 4, 6, 7, 8, 9])
    s = temporal_split(t, (0.5, 0.2, 0.3))
    assert t[s.train].max() < t[s.valid].min() <= t[s.valid].max() < t[s.test].min()
    assert sorted([*s.train, *s.valid, *s.test]) == list(range(10))
    with pytest.raises(ValidationError):
        temporal_split(t, (0.5, 0.5, 0.5))


def test_report_is_written_as_json_and_markdown(tmp_path) -> None:  # type: ignore[no-untyped-def]
    report = {
        "title": "T",
        "command": "fraudstream evaluate -d x",
        "notes": ["n1"],
        "tables": {"main": {"model": {"roc_auc": 0.91234, "n": 10, "x": float("nan")}}},
    }
    j, md = write_report(report, tmp_path, "x")
    text = md.read_text()
    assert "| model | 0.9123 | 10 | n/a |" in text and "fraudstream evaluate -d x" in text
    assert '"x": null' in j.read_text()
    assert markdown_table({}) == ""
