"""Conformance cases for the MODELS area's scorers, each served by the detector.

Each scorer is trained on tiny contract features, registered and promoted in a
model registry on disk; the detector loads it from there, so the suite's
"identical after save / load" check covers the joblib round trip too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from tests.unit.detect.conformance_cases import DetectorScorer, Scorer, ScorerCase


def _train(kind: str, seed: int) -> Any:
    from fraudstream.detect.models.autoencoder import AutoencoderModel
    from fraudstream.detect.models.ensemble import WeightedEnsemble
    from fraudstream.detect.models.gbm import GradientBoostingModel
    from fraudstream.detect.models.isolation import IsolationForestModel
    from fraudstream.detect.models.online import OnlineLogisticModel
    from fraudstream.features.contract import FEATURE_NAMES
    from fraudstream.features.offline import offline_features
    from tests.unit.features.streams import make_stream

    df = pd.DataFrame(make_stream(n=1200, seed=seed + 200))
    y = ((df["amount"] > 300) | df["is_fraud"]).astype(int).to_numpy()
    x = offline_features(df)
    if kind == "iforest":
        return IsolationForestModel(FEATURE_NAMES, n_estimators=30, seed=seed).fit(x, y)
    if kind == "autoencoder":
        return AutoencoderModel(FEATURE_NAMES, hidden=(8,), max_iter=40, seed=seed).fit(x, y)
    if kind == "online":
        return OnlineLogisticModel(FEATURE_NAMES, seed=seed).fit(x, y, epochs=2)
    half = x.shape[0] // 2
    members = {
        "gbm": GradientBoostingModel(
            FEATURE_NAMES, n_estimators=15, max_depth=3, seed=seed, n_jobs=1
        ).fit(x[:half], y[:half]),
        "online": OnlineLogisticModel(FEATURE_NAMES, seed=seed).fit(x[:half], y[:half]),
        "iforest": IsolationForestModel(FEATURE_NAMES, n_estimators=30, seed=seed).fit(
            x[:half], y[:half]
        ),
    }
    ens = WeightedEnsemble(members, {"gbm": 0.7, "online": 0.2, "iforest": 0.1})
    return ens.calibrate(x[half:], y[half:])


def _served(kind: str) -> Callable[[int], Scorer]:
    def build(seed: int) -> Scorer:
        from fraudstream.detect import load_detector
        from fraudstream.detect.detector import EnsembleDetector
        from fraudstream.detect.registry import ModelRegistry
        from fraudstream.features.contract import FEATURE_CONTRACT_VERSION
        from fraudstream.settings import Settings

        root = Path(tempfile.mkdtemp(prefix=f"fs-conformance-{kind}-"))
        reg = ModelRegistry(root)
        meta = {"feature_contract_version": FEATURE_CONTRACT_VERSION}
        reg.promote(reg.register(_train(kind, seed), meta))

        def make(rules: Path | None) -> EnsembleDetector:
            return load_detector(Settings(model_dir=root, detection={"rules_path": rules}))

        return DetectorScorer(make)

    return build


MODEL_CASES = [
    ScorerCase(f"detector-{kind}-champion", _served(kind))
    for kind in ("ensemble", "iforest", "autoencoder", "online")
]

__all__ = ["MODEL_CASES"]
