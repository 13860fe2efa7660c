"""Every scorer passes: score in [0, 1], deterministic under a seed, identical after
save / load, tolerant of missing values and unseen categories. Add scorers in
``conformance_cases.SCORER_CASES``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.detect.conformance_cases import SCORER_CASES, ScorerCase
from tests.unit.features.streams import make_stream

CASES = [pytest.param(c, id=c.name) for c in SCORER_CASES]


def stream(n: int = 600) -> list[dict[str, Any]]:
    recs = make_stream(n=n, seed=3)
    for r in recs[::7]:
        r["amount"] = 950.0  # make rules fire so scores are not all zero
    return recs


def odd_records() -> list[dict[str, Any]]:
    base = make_stream(n=40, seed=4)
    out = []
    for i, r in enumerate(base):
        r = dict(r)
        if i % 2:
            r.update(device_id=None, ip_address=None, counterparty_account_id=None)
        if i % 3 == 0:
            r.update(
                merchant_category="never-seen-category",
                channel="HOVERCRAFT",
                tx_type="BARTER",
                merchant_country="XX",
                currency="XXX",
            )
        out.append(r)
    return out


@pytest.mark.parametrize("case", CASES)
def test_scores_are_probabilities(case: ScorerCase) -> None:
    s = case.build(0).score(stream())
    assert s.shape == (600,)
    assert np.isfinite(s).all() and (s >= 0).all() and (s <= 1).all()
    assert s.std() > 0  # a constant scorer passes the range check vacuously


@pytest.mark.parametrize("case", CASES)
def test_deterministic_under_a_seed(case: ScorerCase) -> None:
    np.testing.assert_array_equal(case.build(7).score(stream()), case.build(7).score(stream()))


@pytest.mark.parametrize("case", CASES)
def test_identical_after_save_and_load(case: ScorerCase, tmp_path: Path) -> None:
    recs = stream()
    uninterrupted = case.build(1).score(recs)
    first = case.build(1)
    head = first.score(recs[:300])
    tail = first.reloaded(tmp_path).score(recs[300:])
    np.testing.assert_array_equal(np.concatenate([head, tail]), uninterrupted)


@pytest.mark.parametrize("case", CASES)
def test_tolerates_missing_values_and_unseen_categories(case: ScorerCase) -> None:
    s = case.build(0).score(odd_records())
    assert s.shape == (40,) and np.isfinite(s).all() and ((s >= 0) & (s <= 1)).all()
