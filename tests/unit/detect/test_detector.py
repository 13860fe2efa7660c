"""EnsembleDetector: modes, hot swap, extra signal, leakage, and load_detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from fraudstream.detect import load_detector
from fraudstream.detect.base import Detector
from fraudstream.detect.champion import ChampionWatcher, StaticSource
from fraudstream.detect.detector import EnsembleDetector
from fraudstream.detect.rules.loader import RuleSetLoader
from fraudstream.errors import ScoringError
from fraudstream.events.batch import TransactionBatch
from fraudstream.features.contract import FEATURE_NAMES
from fraudstream.settings import Settings
from tests.unit.features.streams import DictStore, make_stream


class AmountModel:
    """A transparent ScoringModel: score = amount / 1000, reason = the amount feature."""

    def __init__(
        self, version: str = "amount-v1", names: tuple[str, ...] = ("amount", "count_by_card_1h")
    ) -> None:
        self._version, self._names = version, names

    @property
    def version(self) -> str:
        return self._version

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._names

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x[:, 0] / 1000.0, 0, 1)

    def explain(self, x: np.ndarray, top_k: int = 3) -> list[list[str]]:
        return [["amount"] for _ in range(x.shape[0])]


class Source:
    def __init__(self) -> None:
        self.version: str | None = None
        self.models: dict[str, AmountModel] = {}

    def champion_version(self) -> str | None:
        return self.version

    def load_champion(self, version: str) -> AmountModel:
        return self.models[version]


def batch(amounts: list[float], **extra: object) -> TransactionBatch:
    return TransactionBatch(
        [
            {"card_id": f"c{i}", "amount": a, "event_time": 1000 * i, **extra}
            for i, a in enumerate(amounts)
        ]
    )


def test_rules_only_mode() -> None:
    det = EnsembleDetector(RuleSetLoader())
    assert isinstance(det, Detector)
    d = det.score(batch([10.0, 950.0]), DictStore())
    assert d.fraud_score.tolist() == [0.0, 0.7]
    assert d.action.tolist() == ["ALLOW", "REVIEW"]
    assert d.model_version.startswith("rules-only|default@")
    assert d.features is not None and d.features.shape == (2, len(FEATURE_NAMES))
    assert d.feature_names == FEATURE_NAMES


def test_model_mode_with_reasons_only_for_alerts() -> None:
    det = EnsembleDetector(RuleSetLoader(), ChampionWatcher(StaticSource(AmountModel())))
    d = det.score(batch([100.0, 650.0, 990.0]), DictStore())
    assert d.fraud_score.tolist() == pytest.approx([0.1, 0.65, 0.99])
    assert d.action.tolist() == ["ALLOW", "REVIEW", "BLOCK"]
    assert d.reasons[0] == ["no_risk_signal"]
    assert d.reasons[1] == ["feature:amount"]
    assert d.reasons[2] == ["rule:amount_ge_900", "feature:amount"]
    assert d.model_version.startswith("amount-v1|")


def test_hot_swap_of_a_promoted_model_without_restart() -> None:
    src, now = Source(), [0.0]
    det = EnsembleDetector(RuleSetLoader(), ChampionWatcher(src, 30.0, clock=lambda: now[0]))
    store = DictStore()
    assert det.score(batch([500.0]), store).model_version.startswith("rules-only")
    src.models["v2"] = AmountModel("v2")
    src.version = "v2"
    now[0] = 10.0
    assert det.version.startswith("rules-only")  # not checked yet
    now[0] = 31.0
    d = det.score(batch([500.0]), store)
    assert d.model_version.startswith("v2|") and d.fraud_score[0] == pytest.approx(0.5)
    # A broken promotion (a feature the contract lacks) keeps the current model.
    src.models["v3"] = AmountModel("v3", names=("amount", "no_such_feature"))
    src.version = "v3"
    now[0] = 70.0
    assert det.score(batch([500.0]), store).model_version.startswith("v2|")
    assert det.models.last_error is not None and "no_such_feature" in det.models.last_error
    # Rollback to nothing promoted: rules only again.
    src.version = None
    now[0] = 110.0
    assert det.version.startswith("rules-only")


def test_extra_signal_is_blended_and_explained() -> None:
    def graph(b: TransactionBatch) -> tuple[np.ndarray, list[list[str]]]:
        return np.ones(len(b)), [["graph:shared_device"] for _ in range(len(b))]

    det = EnsembleDetector(
        RuleSetLoader(),
        ChampionWatcher(StaticSource(AmountModel())),
        extra_signal=graph,
        extra_weight=0.5,
    )
    d = det.score(batch([200.0]), DictStore())
    assert d.fraud_score[0] == pytest.approx(0.6)
    assert d.reasons[0] == ["feature:amount", "graph:shared_device"]


def test_non_finite_model_scores_are_a_scoring_error() -> None:
    class NanModel(AmountModel):
        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.full(x.shape[0], np.nan)

    det = EnsembleDetector(RuleSetLoader(), ChampionWatcher(StaticSource(NanModel())))
    with pytest.raises(ScoringError, match="non-finite"):
        det.score(batch([1.0]), DictStore())


def test_ground_truth_does_not_change_decisions() -> None:
    recs = make_stream(n=300, seed=2)
    flipped = [{**r, "is_fraud": not r["is_fraud"], "fraud_scenario": "card_testing"} for r in recs]
    a = EnsembleDetector(RuleSetLoader()).score(TransactionBatch(recs), DictStore())
    b = EnsembleDetector(RuleSetLoader()).score(TransactionBatch(flipped), DictStore())
    np.testing.assert_array_equal(a.fraud_score, b.fraud_score)
    assert a.reasons == b.reasons


def test_load_detector_reads_settings(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "id": "custom",
                "version": "9",
                "lists": {"block": {"card_id": ["c0"]}},
                "rules": [
                    {
                        "id": "tiny",
                        "risk": "MEDIUM",
                        "when": {"feature": "amount", "op": "<", "value": 1},
                    }
                ],
            }
        )
    )
    s = Settings(detection={"rules_path": rules, "alert_budget": 0, "use_model": False})
    det = load_detector(s)
    assert det.version == "rules-only|custom@9|fc-1"
    d = det.score(batch([5.0, 0.5, 5.0]), DictStore())
    assert d.action.tolist() == ["BLOCK", "ALLOW", "ALLOW"]
    assert d.reasons[0] == ["blocklist:card_id"]
    assert d.risk_level[1] == "MEDIUM" and d.reasons[1] == ["rule:tiny"]


def test_load_detector_hot_swaps_the_registry_champion(tmp_path: Path) -> None:
    import time

    import pandas as pd

    gbm = pytest.importorskip("fraudstream.detect.models.gbm")
    registry = pytest.importorskip("fraudstream.detect.registry")
    from fraudstream.features.contract import FEATURE_CONTRACT_VERSION
    from fraudstream.features.offline import offline_features

    df = pd.DataFrame(make_stream(n=800, seed=9))
    x, y = offline_features(df), (df["amount"] > 100).astype(int).to_numpy()
    reg = registry.ModelRegistry(tmp_path)
    meta = {"feature_contract_version": FEATURE_CONTRACT_VERSION}
    models = [gbm.GradientBoostingModel(FEATURE_NAMES, n_estimators=n, max_depth=2, n_jobs=1)
              .fit(x, y) for n in (5, 9)]  # fmt: skip
    v1 = reg.register(models[0], meta)
    det = load_detector(Settings(model_dir=tmp_path, detection={"model_check_interval_s": 0.01}))
    store = DictStore()
    assert det.score(batch([50.0]), store).model_version.startswith("rules-only")
    reg.promote(v1)
    time.sleep(0.02)
    assert det.score(batch([50.0]), store).model_version.startswith(models[0].version)
    reg.promote(reg.register(models[1], meta))
    time.sleep(0.02)
    assert det.score(batch([50.0]), store).model_version.startswith(models[1].version)
    reg.rollback()
    time.sleep(0.02)
    assert det.version.startswith(models[0].version)
