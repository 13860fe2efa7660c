"""The tabular scorers on tiny data: learning, ranges, persistence, reason codes."""

from __future__ import annotations

import functools
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fraudstream.detect.base import ScoringModel
from fraudstream.detect.models.autoencoder import AutoencoderModel
from fraudstream.detect.models.calibration import Calibrator
from fraudstream.detect.models.common import load_model, save_model
from fraudstream.detect.models.ensemble import WeightedEnsemble
from fraudstream.detect.models.gbm import GradientBoostingModel
from fraudstream.detect.models.isolation import IsolationForestModel
from fraudstream.detect.models.online import OnlineLogisticModel
from fraudstream.errors import ValidationError

NAMES = ("amount", "velocity", "noise")


def data(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = ((x[:, 0] > 1.2) & (x[:, 1] > 0.0) | (rng.random(n) < 0.01)).astype(np.int8)
    x[y == 1, 0] += 2.0  # frauds are unusual, so unsupervised members see them too
    return x, y


@functools.cache
def _build(kind: str, seed: int) -> bytes:
    return pickle.dumps(_fit(kind, seed))


def build(kind: str, seed: int = 0) -> Any:
    """A fresh copy of a model fitted once per (kind, seed) in this session."""
    return pickle.loads(_build(kind, seed))


def _fit(kind: str, seed: int) -> Any:
    x, y = data(800, seed=seed)
    if kind == "gbm":
        return GradientBoostingModel(NAMES, n_estimators=40, seed=seed).fit(x, y)
    if kind == "iforest":
        return IsolationForestModel(NAMES, n_estimators=50, seed=seed).fit(x, y)
    if kind == "autoencoder":
        return AutoencoderModel(NAMES, hidden=(4, 2, 4), max_iter=80, seed=seed).fit(x, y)
    if kind == "online":
        return OnlineLogisticModel(NAMES, seed=seed, positive_weight=5.0).fit(x, y, epochs=2)
    members = {k: build(k, seed) for k in ("gbm", "online", "iforest")}
    assert members["gbm"] is not build("gbm", seed)  # copies, not shared objects
    xv, yv = data(600, seed + 100)
    ens = WeightedEnsemble(members, {"gbm": 0.7, "online": 0.2, "iforest": 0.1})
    return ens.calibrate(xv, yv)


KINDS = ["gbm", "iforest", "autoencoder", "online", "ensemble"]


@pytest.mark.parametrize("kind", KINDS)
def test_implements_scoring_model_and_ranks_fraud_first(kind: str) -> None:
    model = build(kind)
    assert isinstance(model, ScoringModel)
    assert model.feature_names == NAMES
    xt, yt = data(800, seed=9)
    s = model.predict(xt)
    assert s.shape == (800,) and ((s >= 0) & (s <= 1)).all()
    assert s[yt == 1].mean() > s[yt == 0].mean() + 0.1


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_gives_identical_scores_and_reasons(kind: str, tmp_path: Path) -> None:
    model = build(kind)
    xt, _ = data(300, seed=5)
    path = save_model(model, tmp_path / "m.joblib")
    again = load_model(path, type(model))
    np.testing.assert_array_equal(again.predict(xt), model.predict(xt))
    assert again.explain(xt[:20]) == model.explain(xt[:20])
    assert again.version == model.version


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_under_seed(kind: str) -> None:
    xt, _ = data(300, seed=5)
    # Two independent fits with the same seed (not the cached copy).
    np.testing.assert_array_equal(_fit(kind, 3).predict(xt), _fit(kind, 3).predict(xt))


@pytest.mark.parametrize("kind", KINDS)
def test_missing_and_infinite_values_score_in_range(kind: str) -> None:
    xt, _ = data(50, seed=6)
    xt[::2, 0] = np.nan
    xt[1::3, 1] = np.inf
    xt[5] = np.nan
    s = build(kind).predict(xt)
    assert np.isfinite(s).all() and ((s >= 0) & (s <= 1)).all()


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_column_count_is_a_typed_error(kind: str) -> None:
    with pytest.raises(ValidationError):
        build(kind).predict(np.zeros((3, 4)))


def test_gbm_reason_codes_name_the_driving_feature() -> None:
    model = build("gbm")
    reasons = model.explain(np.array([[4.0, 1.0, 0.0]]), top_k=2)
    assert reasons[0][0] in ("amount", "velocity")
    assert "noise" not in reasons[0][:1]
    assert model.explain(np.zeros((0, 3))) == []


def test_ensemble_reasons_come_from_the_tree_model() -> None:
    ens = build("ensemble")
    x = np.array([[4.0, 1.0, 0.0]])
    assert ens.explainer == "gbm"
    assert ens.explain(x) == ens.members["gbm"].explain(x)


def test_ensemble_rejects_bad_weights_and_mismatched_members() -> None:
    gbm = build("gbm")
    with pytest.raises(ValidationError):
        WeightedEnsemble({"gbm": gbm}, {"gbm": -1.0})
    other = OnlineLogisticModel(("a", "b", "c"))
    with pytest.raises(ValidationError):
        WeightedEnsemble({"gbm": gbm, "o": other}, {"gbm": 1.0, "o": 1.0})


def test_online_one_class_guard_holds_back_until_both_classes() -> None:
    m = OnlineLogisticModel(NAMES)
    x, y = data(200)
    assert m.learn_many(x[y == 0][:50], np.zeros(50)) is False
    assert not m.is_fitted and m.predict_one({"amount": 1.0}) == 0.5
    assert m.learn_many(x[y == 1][:5], np.ones(5)) is True
    assert m.is_fitted and m.n_seen == 55 and m.n_updates == 1
    # Once both classes are known, a one-class batch is a normal update.
    assert m.learn_many(x[y == 1][:3], np.ones(3)) is True and m.n_updates == 2


def test_online_learns_incrementally() -> None:
    x, y = data(4000, seed=1)
    m = OnlineLogisticModel(NAMES, positive_weight=5.0)
    for lo in range(0, 4000, 200):
        m.learn_many(x[lo : lo + 200], y[lo : lo + 200])
    xt, yt = data(800, seed=2)
    s = m.predict_many(xt)
    assert s[yt == 1].mean() > s[yt == 0].mean() + 0.2
    assert m.learn_one({"amount": 3.0, "velocity": 1.0}, 1) is True


def test_online_rejects_non_binary_labels() -> None:
    with pytest.raises(ValidationError):
        OnlineLogisticModel(NAMES).learn_many(np.zeros((2, 3)), np.array([0, 2]))


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_is_monotone_and_close_to_frequencies(method: str) -> None:
    rng = np.random.default_rng(0)
    s = rng.random(20_000)
    y = (rng.random(20_000) < s**2).astype(int)  # true P(fraud | s) = s^2
    cal = Calibrator(method).fit(s, y)  # type: ignore[arg-type]
    grid = np.linspace(0.05, 0.95, 19)
    out = cal.transform(grid)
    assert (np.diff(out) >= 0).all()
    if method == "isotonic":
        assert np.abs(out - grid**2).max() < 0.06


def test_calibration_refuses_one_class_slice() -> None:
    with pytest.raises(ValidationError):
        Calibrator().fit(np.array([0.1, 0.2]), np.array([0, 0]))


def test_isotonic_fast_path_equals_sklearn_predict() -> None:
    from fraudstream.detect.models.calibration import _isotonic

    rng = np.random.default_rng(3)
    s = rng.random(2000)
    c = Calibrator("isotonic").fit(s, (rng.random(2000) < s**2).astype(int))
    assert c._iso is not None
    for probe in (rng.random(500), rng.random(500) ** 6, np.array([-1.0, 0.0, 1.0, 2.0])):
        assert np.array_equal(_isotonic(c._iso, probe), c._iso.predict(probe))
