"""Scorers the conformance suite checks. Append a ScorerCase for every new scorer.

A case builds a scorer from a seed (training on tiny data if it must) and exposes
``score(records) -> float[n]`` on a fresh state, plus ``reloaded(dir)``: the same
scorer after a save / load round trip (for a detector: its state restored from a
snapshot of the store, its rules re-read from a saved file).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from fraudstream.detect.detector import EnsembleDetector
from fraudstream.detect.rules.loader import RuleSetLoader, default_rules_path
from fraudstream.events.batch import TransactionBatch
from tests.unit.features.streams import DictStore


class Scorer(Protocol):
    def score(self, records: list[dict[str, Any]]) -> np.ndarray: ...

    def reloaded(self, directory: Path) -> Scorer: ...


@dataclass
class ScorerCase:
    name: str
    build: Callable[[int], Scorer]  # seed -> scorer


class DetectorScorer:
    """A Detector scored batch by batch over one store; reloads state + rules from disk."""

    def __init__(
        self,
        make: Callable[[Path | None], EnsembleDetector],
        rules: Path | None = None,
        store: DictStore | None = None,
    ) -> None:
        self.make = make
        self.rules = rules
        self.detector = make(rules)
        self.store = store or DictStore()

    def score(self, records: list[dict[str, Any]]) -> np.ndarray:
        out = [
            self.detector.score(TransactionBatch(records[i : i + 100]), self.store).fraud_score
            for i in range(0, len(records), 100)
        ]
        return np.concatenate(out) if out else np.zeros(0)

    def reloaded(self, directory: Path) -> DetectorScorer:
        rules = directory / "rules.yaml"
        rules.write_text(yaml.safe_dump(yaml.safe_load(default_rules_path().read_text())))
        state = directory / "state.npz"
        np.savez(
            state,
            **{k.replace("/", "|"): np.frombuffer(v, np.uint8) for k, v in self.store.data.items()},
        )
        restored = DictStore()
        with np.load(state) as z:
            for k in z.files:
                restored.put(k.replace("|", "/"), z[k].tobytes())
        return DetectorScorer(self.make, rules, restored)


def _rules_only(seed: int) -> Scorer:
    # The rules-only detector has no randomness: the seed changes nothing, by design.
    return DetectorScorer(lambda path: EnsembleDetector(RuleSetLoader(path)))


SCORER_CASES: list[ScorerCase] = [
    ScorerCase("detector-rules-only", _rules_only),
]


@functools.lru_cache(maxsize=4)
def _gbm_registry(seed: int) -> Path:
    """A registry with a tiny GBM champion (trained once per seed: training determinism
    is the MODELS cases' business; this case checks the detector serving it)."""
    import tempfile

    import pandas as pd

    from fraudstream.detect.models.gbm import GradientBoostingModel
    from fraudstream.detect.registry import ModelRegistry
    from fraudstream.features.contract import FEATURE_CONTRACT_VERSION, FEATURE_NAMES
    from fraudstream.features.offline import offline_features
    from tests.unit.features.streams import make_stream

    recs = make_stream(n=1500, seed=seed + 100)
    df = pd.DataFrame(recs)
    y = ((df["amount"] > 300) | df["is_fraud"]).astype(int).to_numpy()
    model = GradientBoostingModel(
        FEATURE_NAMES, n_estimators=15, max_depth=3, seed=seed, n_jobs=1
    ).fit(offline_features(df), y)
    root = Path(tempfile.mkdtemp(prefix="fs-conformance-"))
    reg = ModelRegistry(root)
    reg.promote(reg.register(model, {"feature_contract_version": FEATURE_CONTRACT_VERSION}))
    return root


def _gbm_champion(seed: int) -> Scorer:
    """The detector serving a tiny GBM promoted in a model registry (MODELS area)."""
    from fraudstream.detect import load_detector
    from fraudstream.settings import Settings

    root = _gbm_registry(seed)

    def make(rules: Path | None) -> EnsembleDetector:
        return load_detector(Settings(model_dir=root, detection={"rules_path": rules}))

    return DetectorScorer(make)


try:
    import fraudstream.detect.models.gbm
    import fraudstream.detect.registry  # noqa: F401
except ImportError:  # the MODELS area is not in this checkout
    pass
else:
    SCORER_CASES.append(ScorerCase("detector-gbm-champion", _gbm_champion))

try:
    from tests.unit.detect.model_cases import MODEL_CASES
except ImportError:  # the MODELS area is not in this checkout
    pass
else:
    SCORER_CASES.extend(MODEL_CASES)
