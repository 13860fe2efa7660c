"""From fraud score and rule hits to risk level, action and reason codes.

Order of precedence (highest first), the same as the rule engine's:

1. **blocklist** -> CRITICAL / BLOCK;
2. **allowlist** -> LOW / ALLOW (rules and model are overruled);
3. **rules**: the highest ``risk`` of the active rules that fired is a floor;
4. **model**: the score's band (``medium`` / ``review`` / ``block`` thresholds) can
   only raise the level. The REVIEW threshold may be adaptive
   (:class:`AdaptiveThreshold`).

Then the **alert budget** (:class:`AlertBudget`) downgrades the lowest-scoring
REVIEWs of a batch to MEDIUM / ALLOW once the period's budget is spent; BLOCKs
are never downgraded (they do use the budget). Risk maps to action as
CRITICAL -> BLOCK, HIGH -> REVIEW, MEDIUM / LOW -> ALLOW.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fraudstream.detect.base import RISK_LEVELS
from fraudstream.detect.rules.engine import LIST_ALLOW, LIST_BLOCK, RuleResult
from fraudstream.observe.metrics import ADAPTIVE_THRESHOLD, ALERTS_DOWNGRADED

LOW, MEDIUM, HIGH, CRITICAL = range(4)
_RISK = np.array(RISK_LEVELS, dtype=object)
_ACTION_OF_LEVEL = np.array(["ALLOW", "ALLOW", "REVIEW", "BLOCK"], dtype=object)
NO_SIGNAL = "no_risk_signal"
BUDGET_REASON = "alert_budget:downgraded"


class AdaptiveThreshold:
    """A score threshold that follows a quantile of recent scores, within bounds.

    The threshold is the ``quantile`` of the last ``window`` scores, clipped to
    ``[floor, ceiling]``; until ``min_samples`` scores are seen it is ``initial``.
    A batch is judged with the threshold of the scores before it, then its scores
    join the window, so a burst cannot raise the bar for itself.

    Example:
        >>> t = AdaptiveThreshold(quantile=0.9, window=100, floor=0.2, ceiling=0.8,
        ...                       min_samples=10, initial=0.5)
        >>> t.value
        0.5
        >>> t.update(np.linspace(0, 1, 100)); round(t.value, 2)
        0.8
    """

    def __init__(
        self,
        quantile: float = 0.99,
        window: int = 10_000,
        floor: float = 0.3,
        ceiling: float = 0.9,
        min_samples: int = 1_000,
        initial: float = 0.6,
    ) -> None:
        if not 0 < quantile < 1 or not 0 <= floor <= ceiling <= 1 or window < 1:
            raise ValueError("need 0 < quantile < 1, 0 <= floor <= ceiling <= 1, window >= 1")
        self.quantile, self.floor, self.ceiling = quantile, floor, ceiling
        self.min_samples, self.initial = min_samples, initial
        self._buf = np.zeros(window, dtype=np.float64)
        self._seen = 0
        self.value = initial

    def update(self, scores: np.ndarray) -> None:
        """Add a batch of scores to the window and recompute the threshold."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        s = s[np.isfinite(s)][-self._buf.shape[0] :]
        if s.size == 0:
            return
        idx = (self._seen + np.arange(s.size)) % self._buf.shape[0]
        self._buf[idx] = s
        self._seen += s.size
        n = min(self._seen, self._buf.shape[0])
        if self._seen >= self.min_samples:
            q = float(np.quantile(self._buf[:n], self.quantile))
            self.value = float(np.clip(q, self.floor, self.ceiling))
            ADAPTIVE_THRESHOLD.set(self.value)


class AlertBudget:
    """At most ``max_alerts`` alerts (REVIEW + BLOCK) per period of event time.

    Periods are ``event_time // period_ms`` (event time, not the wall clock, so a
    replay decides the same). The budget is kept in this object, per worker.

    Example:
        >>> b = AlertBudget(max_alerts=2, period_ms=60_000)
        >>> b.admit(np.array([0.9, 0.7, 0.8]), np.zeros(3, bool), 0).tolist()
        [True, False, True]
    """

    def __init__(self, max_alerts: int, period_ms: int = 3_600_000) -> None:
        if max_alerts < 0 or period_ms < 1:
            raise ValueError("max_alerts must be >= 0 and period_ms >= 1")
        self.max_alerts, self.period_ms = max_alerts, period_ms
        self._period = -1
        self.used = 0

    def admit(self, review_scores: np.ndarray, blocks: np.ndarray, now_ms: int) -> np.ndarray:
        """Which REVIEWs keep their alert (bool per review); ``blocks`` only use budget."""
        period = now_ms // self.period_ms
        if period != self._period:
            self._period, self.used = period, 0
        self.used += int(np.count_nonzero(blocks))
        room = max(self.max_alerts - self.used, 0)
        keep = np.zeros(review_scores.shape[0], dtype=bool)
        if room > 0:
            # Highest scores keep their alerts; stable sort keeps batch order on ties.
            order = np.argsort(-review_scores, kind="stable")
            keep[order[:room]] = True
        self.used += int(keep.sum())
        return keep


@dataclass(slots=True)
class PolicyResult:
    """Risk level, action and reasons per row (see :class:`~fraudstream.detect.base.Decisions`)."""

    risk_level: np.ndarray
    action: np.ndarray
    reasons: list[list[str]]
    review_threshold: float


class DecisionPolicy:
    """Maps calibrated scores and rule results to decisions (see the module docstring).

    Example:
        >>> from fraudstream.detect.rules.engine import RuleResult
        >>> rr = RuleResult(np.zeros((3, 0), bool), np.array([-1, 3, -1], np.int8),
        ...                 np.zeros(3), np.array([0, 0, 1], np.int8), {2: ["allowlist:card_id"]})
        >>> p = DecisionPolicy().decide(np.array([0.65, 0.1, 0.99]), rr)
        >>> p.risk_level.tolist(), p.action.tolist()
        (['HIGH', 'CRITICAL', 'LOW'], ['REVIEW', 'BLOCK', 'ALLOW'])
    """

    def __init__(
        self,
        medium_threshold: float = 0.3,
        review_threshold: float = 0.6,
        block_threshold: float = 0.9,
        adaptive: AdaptiveThreshold | None = None,
        budget: AlertBudget | None = None,
    ) -> None:
        if not 0 <= medium_threshold <= review_threshold <= block_threshold <= 1:
            raise ValueError("need 0 <= medium <= review <= block <= 1")
        self.medium_threshold = medium_threshold
        self.review_threshold = review_threshold
        self.block_threshold = block_threshold
        self.adaptive = adaptive
        self.budget = budget

    def decide(
        self,
        score: np.ndarray,
        rules: RuleResult,
        extra_reasons: list[list[str]] | None = None,
        event_time_ms: np.ndarray | None = None,
        explain: Callable[[np.ndarray], list[list[str]]] | None = None,
        explain_all: bool = False,
    ) -> PolicyResult:
        """Decide a batch.

        Args:
            score: calibrated fraud scores ``[n]``.
            rules: the rule set's result for the batch.
            extra_reasons: reasons per row from another signal (the graph), appended.
            event_time_ms: event times, for the alert budget's period.
            explain: ``rows -> reasons`` of the model (top features), called once for
                the REVIEW / BLOCK rows (every row with ``explain_all``).
        """
        n = score.shape[0]
        review = self.adaptive.value if self.adaptive is not None else self.review_threshold
        review = min(review, self.block_threshold)
        level = np.zeros(n, dtype=np.int8)
        level[score >= self.medium_threshold] = MEDIUM
        level[score >= review] = HIGH
        level[score >= self.block_threshold] = CRITICAL
        level = np.maximum(level, rules.risk_floor)
        level[rules.list_action == LIST_ALLOW] = LOW
        level[rules.list_action == LIST_BLOCK] = CRITICAL
        downgraded = np.zeros(0, dtype=np.int64)
        if self.budget is not None:
            reviews = np.flatnonzero(level == HIGH)
            now = int(event_time_ms.max()) if event_time_ms is not None and n else 0
            keep = self.budget.admit(score[reviews], level == CRITICAL, now)
            downgraded = reviews[~keep]
            level[downgraded] = MEDIUM
            if downgraded.size:
                ALERTS_DOWNGRADED.inc(int(downgraded.size))
        if self.adaptive is not None:
            self.adaptive.update(score)
        model_reasons: dict[int, list[str]] = {}
        if explain is not None:
            rows = np.arange(n) if explain_all else np.flatnonzero(level >= HIGH)
            if rows.size:
                model_reasons = dict(zip(rows.tolist(), explain(rows), strict=True))
        reasons = _reasons(n, rules, extra_reasons, model_reasons, level, downgraded)
        return PolicyResult(_RISK[level], _ACTION_OF_LEVEL[level], reasons, review)


def _reasons(
    n: int,
    rules: RuleResult,
    extra: list[list[str]] | None,
    model: dict[int, list[str]],
    level: np.ndarray,
    downgraded: np.ndarray,
) -> list[list[str]]:
    # Most rows have nothing to say: build those in one comprehension and only walk
    # the rows that a list, a rule, the model, the graph or the budget touched.
    special = set(np.flatnonzero(rules.hits.any(axis=1)).tolist())
    special |= set(rules.list_reasons) | set(model) | set(downgraded.tolist())
    if extra is not None:
        special |= {i for i, r in enumerate(extra) if r}
    out = [[NO_SIGNAL] for _ in range(n)]
    for i in np.flatnonzero(level != LOW).tolist():
        out[i] = [f"score_band:{RISK_LEVELS[level[i]]}"]
    budget = set(downgraded.tolist())
    for i in sorted(special):
        r = rules.reasons(i)
        r.extend(model.get(i, ()))
        if extra is not None:
            r.extend(extra[i])
        if i in budget:
            r.append(BUDGET_REASON)
        if r:
            out[i] = r
    return out
