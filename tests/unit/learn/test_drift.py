"""PSI / KS on synthetic data: no drift stays low, shifted data rises; the trigger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from fraudstream.errors import ValidationError
from fraudstream.learn.drift import SCORE, DriftMonitor, DriftReference, compare, ks, psi
from fraudstream.settings import DriftSettings

NAMES = ["amount", "count_by_card_1h", "is_night", "device_missing"]
S = DriftSettings(window_records=2000, min_records=500, min_drifted_features=2)


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    x = np.column_stack([
        rng.lognormal(3.0 + shift, 1.0, n),
        rng.poisson(2.0 + 4 * shift, n).astype(float),
        (rng.random(n) < 0.1 + 0.5 * shift).astype(float),
        np.where(rng.random(n) < 0.2 + 0.5 * shift, np.nan, 1.0),
    ])  # fmt: skip
    return x


def _ref(rng: np.random.Generator) -> DriftReference:
    return DriftReference.fit(_frame(rng, 20_000), NAMES, rng.beta(1, 20, 20_000), bins=10)


def test_no_drift_is_low_and_shift_is_high() -> None:
    rng = np.random.default_rng(1)
    ref = _ref(rng)
    same = compare(ref, _frame(rng, 3000), NAMES, rng.beta(1, 20, 3000), S, export=False)
    for name, row in same.rows.items():
        assert row["psi"] < 0.05 and row["ks"] < 0.06, (name, row)
    assert not same.triggered and same.drifted == []
    moved = compare(ref, _frame(rng, 3000, shift=0.6), NAMES, rng.beta(3, 5, 3000), S, export=False)
    assert set(moved.drifted) == set(NAMES)  # the missing-share shift is caught by PSI
    assert moved.rows["amount"]["psi"] > 0.25 and moved.rows["amount"]["ks"] > 0.2
    assert moved.score_drifted and moved.triggered
    assert moved.rows["device_missing"]["psi"] > 0.25  # only the NaN share moved


def test_psi_and_ks_grow_with_the_shift() -> None:
    rng = np.random.default_rng(2)
    ref = _ref(rng)
    psis, kss = [], []
    for shift in (0.0, 0.2, 0.5, 1.0):
        r = compare(ref, _frame(rng, 4000, shift), NAMES, None, S, export=False)
        psis.append(r.rows["amount"]["psi"])
        kss.append(r.rows["amount"]["ks"])
    assert psis == sorted(psis) and kss == sorted(kss)
    assert SCORE not in r.rows


def test_small_window_never_triggers() -> None:
    rng = np.random.default_rng(3)
    r = compare(_ref(rng), _frame(rng, 100, shift=1.0), NAMES, None, S, export=False)
    assert len(r.drifted) >= 2 and not r.triggered  # below min_records


def test_sliding_window_forgets_old_rows_and_exports_gauges() -> None:
    rng = np.random.default_rng(4)
    mon = DriftMonitor(_ref(rng), NAMES, S)
    mon.update(_frame(rng, 2000, shift=1.0))
    assert mon.report().triggered
    assert REGISTRY.get_sample_value("fraudstream_drift_psi", {"feature": "amount"}) > 0.25
    for _ in range(4):
        mon.update(_frame(rng, 500))  # the window now holds only unshifted rows
    x, _ = mon.window()
    assert x.shape == (2000, 4)
    assert not mon.report().triggered
    assert REGISTRY.get_sample_value("fraudstream_drift_psi", {"feature": "amount"}) < 0.05


def test_reference_round_trip_and_bad_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ref = _ref(rng)
    back = DriftReference.load(ref.save(tmp_path / "r.json"))
    x = _frame(rng, 1000, 0.5)
    a = compare(ref, x, NAMES, None, S, export=False)
    b = compare(back, x, NAMES, None, S, export=False)
    assert a.rows == b.rows
    (tmp_path / "bad.json").write_text('{"features": 1}')
    with pytest.raises(ValidationError):
        DriftReference.load(tmp_path / "bad.json")


def test_primitives() -> None:
    assert psi(np.array([0.25] * 4), np.array([0.25] * 4)) == 0.0
    assert psi(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])) > 1.0  # finite
    assert ks(np.sort(np.arange(10.0)), np.arange(10.0)) == 0.0
    assert ks(np.zeros(0), np.ones(3)) == 0.0
