"""The detector the pipeline calls: features -> rules -> model (+ graph) -> decision.

``EnsembleDetector.score(batch, state)`` computes the feature contract's matrix
(per-key window state in the partition's store), evaluates the current rule set,
scores with the current champion :class:`~fraudstream.detect.base.ScoringModel`
(the calibrated ensemble from the registry), optionally blends an extra signal
(the GNN's scores and reasons) and decides. With no champion it runs in
rules-only mode: the score is the highest score of the active rules that fired,
and ``version`` starts with ``rules-only``.

Ground truth never reaches a decision: features read a fixed list of columns and
rules refuse leakage fields at compile time, so records need not be copied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from fraudstream.detect.base import Decisions, KeyValueStore, ScoringModel
from fraudstream.detect.champion import ChampionWatcher, StaticSource
from fraudstream.detect.decision import DecisionPolicy
from fraudstream.detect.rules.engine import LIST_BLOCK
from fraudstream.detect.rules.loader import RuleSetLoader
from fraudstream.errors import ScoringError
from fraudstream.events.batch import TransactionBatch
from fraudstream.features.contract import FEATURE_CONTRACT_VERSION, FEATURE_NAMES
from fraudstream.features.online import OnlineFeatures
from fraudstream.observe.metrics import DECISIONS

logger = logging.getLogger(__name__)

# (batch) -> (scores in [0, 1] per row, reason codes per row); e.g. the GNN's live graph.
ExtraSignal = Callable[[TransactionBatch], tuple[np.ndarray, list[list[str]]]]


class EnsembleDetector:
    """Implements :class:`~fraudstream.detect.base.Detector` over the feature contract.

    Args:
        rules: the rule-set loader (hot reload).
        models: the champion watcher (hot swap); None or an empty source: rules-only.
        policy: the decision policy.
        features: the online feature computer.
        extra_signal: optional ``(batch) -> (scores, reasons)``, blended with weight
            ``extra_weight`` into the model score (the seam for the GNN).
        explain_top_k: model reason codes per explained row.
        explain_all: explain every row, not only REVIEW / BLOCK (costly).

    Example:
        >>> from fraudstream.pipeline.state import PartitionStore
        >>> det = EnsembleDetector(RuleSetLoader())
        >>> d = det.score(TransactionBatch([{"card_id": "c", "amount": 950.0, "event_time": 0}]),
        ...               PartitionStore(0))
        >>> d.action.tolist(), d.reasons[0][0], det.version.startswith("rules-only")
        (['REVIEW'], 'rule:amount_ge_900', True)
    """

    def __init__(
        self,
        rules: RuleSetLoader,
        models: ChampionWatcher | None = None,
        policy: DecisionPolicy | None = None,
        features: OnlineFeatures | None = None,
        extra_signal: ExtraSignal | None = None,
        extra_weight: float = 0.0,
        explain_top_k: int = 3,
        explain_all: bool = False,
    ) -> None:
        if not 0.0 <= extra_weight <= 1.0:
            raise ValueError("extra_weight must be in [0, 1]")
        self.rules = rules
        self.models = models if models is not None else ChampionWatcher(StaticSource(None))
        self.policy = policy if policy is not None else DecisionPolicy()
        self.features = features if features is not None else OnlineFeatures()
        self.extra_signal = extra_signal
        self.extra_weight = extra_weight
        self.explain_top_k = explain_top_k
        self.explain_all = explain_all

    @property
    def version(self) -> str:
        """``<model version or rules-only>|<ruleset id@version>|<feature contract>``."""
        model = self.models.current()
        head = model.version if model is not None else "rules-only"
        return f"{head}|{self.rules.current().label}|{FEATURE_CONTRACT_VERSION}"

    def score(self, batch: TransactionBatch, state: KeyValueStore) -> Decisions:
        """Score one partition batch; updates the partition's feature state."""
        ruleset = self.rules.current()
        model = self.models.current()
        x = self.features.transform(batch, state)
        rules = ruleset.evaluate(x, batch)
        if model is not None:
            cols = self.models.columns
            # A model on the whole contract (the usual case) reads x itself, not a copy.
            x_model = x if cols == list(range(x.shape[1])) else x[:, cols]
            score = _checked(model.predict(x_model), len(batch), model.version)
            version = model.version
        else:
            x_model = x
            score = np.where(rules.list_action == LIST_BLOCK, 1.0, rules.rule_score)
            version = "rules-only"
        extra_reasons: list[list[str]] | None = None
        if self.extra_signal is not None:
            extra, extra_reasons = self.extra_signal(batch)
            extra = _checked(extra, len(batch), "extra signal")
            score = (1.0 - self.extra_weight) * score + self.extra_weight * extra
        explain = None
        if model is not None and self.explain_top_k > 0:
            m, k = model, self.explain_top_k

            def explain(rows: np.ndarray) -> list[list[str]]:
                return [[c if ":" in c else f"feature:{c}" for c in r]
                        for r in m.explain(x_model[rows], top_k=k)]  # fmt: skip

        decided = self.policy.decide(
            score,
            rules,
            extra_reasons=extra_reasons,
            event_time_ms=batch.col("event_time") if len(batch) else None,
            explain=explain,
            explain_all=self.explain_all,
        )
        for action in ("REVIEW", "BLOCK", "ALLOW"):
            n = int(np.count_nonzero(decided.action == action))
            if n:
                DECISIONS.labels(action=action, model_version=version).inc(n)
        return Decisions(
            fraud_score=score,
            risk_level=decided.risk_level,
            action=decided.action,
            reasons=decided.reasons,
            model_version=f"{version}|{ruleset.label}|{FEATURE_CONTRACT_VERSION}",
            features=x,
            feature_names=FEATURE_NAMES,
        )


def _checked(score: np.ndarray, n: int, who: str) -> np.ndarray:
    s = np.asarray(score, dtype=np.float64).ravel()
    if s.shape[0] != n:
        raise ScoringError(f"{who} returned {s.shape[0]} scores for {n} rows")
    # A NaN score would silently allow: treat it as a scorer failure instead.
    if not np.all(np.isfinite(s)):
        raise ScoringError(f"{who} returned non-finite scores")
    return np.clip(s, 0.0, 1.0)


def static_model_detector(model: ScoringModel | None, **kwargs: object) -> EnsembleDetector:
    """A detector over a fixed model and the packaged rules (tests and benchmarks)."""
    return EnsembleDetector(
        RuleSetLoader(),
        ChampionWatcher(StaticSource(model), check_interval_s=float("inf")),
        **kwargs,  # type: ignore[arg-type]
    )
