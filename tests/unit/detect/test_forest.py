"""The compiled tree walker gives XGBoost's scores and contributions, bit for bit."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import xgboost as xgb

import fraudstream.detect.models.forest as forest_mod
from fraudstream.detect.models.common import top_reasons
from fraudstream.detect.models.forest import CompiledForest
from fraudstream.detect.models.gbm import GradientBoostingModel

NAMES = tuple(f"f{i}" for i in range(6))


def data(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(NAMES)))
    x[:, 2] = np.round(x[:, 2] * 3)  # ties on thresholds
    y = ((x[:, 0] + x[:, 1] ** 2 > 1.5) | (rng.random(n) < 0.02)).astype(int)
    x[rng.random(x.shape) < 0.15] = np.nan  # missing values take the default branch
    return x, y


@pytest.fixture(scope="module")
def model() -> GradientBoostingModel:
    x, y = data()
    return GradientBoostingModel(NAMES, n_estimators=40, max_depth=5, n_jobs=1).fit(x, y)


def compiled(m: GradientBoostingModel) -> CompiledForest:
    f = m.forest()
    if f is None:
        pytest.skip("no C compiler here: the XGBoost fallback is tested below")
    return f


def test_predictions_and_contributions_equal_xgboost(model: GradientBoostingModel) -> None:
    f = compiled(model)
    booster = model.booster
    assert booster is not None
    x, _ = data(n=2000, seed=1)
    x[5] = np.nan  # an all-missing row
    assert np.array_equal(f.predict(x), booster.inplace_predict(x, missing=np.nan))
    assert np.array_equal(f.margin(x), booster.inplace_predict(x, predict_type="margin"))
    want = booster.predict(
        xgb.DMatrix(x, missing=np.nan),
        pred_contribs=True,
        approx_contribs=True,
        validate_features=False,
    )
    got = f.contributions(x)
    assert np.array_equal(got, want)
    assert top_reasons(got[:, :-1].astype(np.float64), NAMES, 3) == top_reasons(
        want[:, :-1].astype(np.float64), NAMES, 3
    )


def test_model_uses_the_walker_and_survives_pickling(model: GradientBoostingModel) -> None:
    compiled(model)
    x, _ = data(n=500, seed=2)
    before, reasons = model.predict(x), model.explain(x)
    clone = pickle.loads(pickle.dumps(model))
    assert clone._forest is False  # the ctypes handle is not pickled; rebuilt on use
    assert np.array_equal(clone.predict(x), before)
    assert clone.explain(x) == reasons
    assert isinstance(clone._forest, CompiledForest)


def test_fallback_to_xgboost_without_a_compiler(
    model: GradientBoostingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, _ = data(n=300, seed=3)
    with_walker = model.predict(x), model.explain(x)
    monkeypatch.setattr(forest_mod, "ENABLED", False)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.forest() is None
    assert np.array_equal(clone.predict(x), with_walker[0])
    assert clone.explain(x) == with_walker[1]


def test_a_walker_that_disagrees_is_refused(model: GradientBoostingModel) -> None:
    f = compiled(model)
    assert model.booster is not None and f.agrees_with(model.booster)
    inner = np.flatnonzero(f.nodes["left"] != np.arange(f.nodes.shape[0]))
    f.nodes["thr"][inner[0]] += 0.5  # a wrong threshold changes some probe rows' paths
    assert not f.agrees_with(model.booster)


def test_models_it_cannot_walk_are_left_to_xgboost() -> None:
    x, y = data(n=500)
    reg = xgb.train({"objective": "reg:squarederror", "max_depth": 3}, xgb.DMatrix(x, y), 5)
    assert CompiledForest.build(reg, len(NAMES)) is None
    with pytest.raises(ValueError, match="features"):
        f = CompiledForest.build(
            xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, y), 3), len(NAMES)
        )
        if f is None:
            raise ValueError("features (no compiler)")
        f.predict(x[:, :3])
