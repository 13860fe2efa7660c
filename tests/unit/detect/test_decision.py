"""Decision policy: precedence, thresholds, adaptive threshold, alert budget, reasons."""

from __future__ import annotations

import numpy as np
import pytest

from fraudstream.detect.decision import (
    BUDGET_REASON,
    NO_SIGNAL,
    AdaptiveThreshold,
    AlertBudget,
    DecisionPolicy,
)
from fraudstream.detect.rules.engine import LIST_ALLOW, LIST_BLOCK, LIST_NONE, RuleResult


def rules(
    n: int,
    floor: list[int] | None = None,
    lists: list[int] | None = None,
    hits: list[bool] | None = None,
) -> RuleResult:
    h = np.array(hits if hits is not None else [False] * n, dtype=bool).reshape(n, 1)
    return RuleResult(
        hits=h,
        risk_floor=np.array(floor if floor is not None else [-1] * n, dtype=np.int8),
        rule_score=np.zeros(n),
        list_action=np.array(lists if lists is not None else [LIST_NONE] * n, dtype=np.int8),
        list_reasons={
            i: [f"{'allow' if a == LIST_ALLOW else 'block'}list:card_id"]
            for i, a in enumerate(lists or [])
            if a != LIST_NONE
        },
        rule_ids=("r1",),
        shadow=np.array([False]),
    )


def test_score_bands_map_to_levels_and_actions() -> None:
    p = DecisionPolicy(medium_threshold=0.3, review_threshold=0.6, block_threshold=0.9)
    res = p.decide(np.array([0.1, 0.3, 0.6, 0.95]), rules(4))
    assert res.risk_level.tolist() == ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    assert res.action.tolist() == ["ALLOW", "ALLOW", "REVIEW", "BLOCK"]
    assert res.reasons[0] == [NO_SIGNAL]
    assert res.reasons[3] == ["score_band:CRITICAL"]


def test_precedence_blocklist_allowlist_rules_model() -> None:
    p = DecisionPolicy()
    res = p.decide(
        np.array([0.99, 0.0, 0.1, 0.95, 0.1]),
        rules(
            5,
            floor=[-1, 3, 3, -1, 2],
            lists=[LIST_ALLOW, LIST_BLOCK, LIST_ALLOW, LIST_NONE, LIST_NONE],
            hits=[False, True, True, False, True],
        ),
        extra_reasons=[["feature:amount"], [], [], ["feature:count_by_card_1m"], []],
    )
    # allowlist beats a 0.99 score; blocklist beats a 0 score; allowlist beats a CRITICAL rule;
    # a HIGH rule floor is raised by nothing, the model raises a LOW floor to CRITICAL.
    assert res.action.tolist() == ["ALLOW", "BLOCK", "ALLOW", "BLOCK", "REVIEW"]
    assert res.reasons[0] == ["allowlist:card_id", "feature:amount"]
    assert res.reasons[1] == ["blocklist:card_id", "rule:r1"]
    assert res.reasons[4] == ["rule:r1"]


def test_adaptive_threshold_follows_quantile_within_bounds() -> None:
    t = AdaptiveThreshold(
        quantile=0.95, window=1000, floor=0.2, ceiling=0.7, min_samples=100, initial=0.5
    )
    t.update(np.full(50, 0.01))
    assert t.value == 0.5  # not enough samples yet
    t.update(np.full(100, 0.01))
    assert t.value == 0.2  # quantile 0.01 clipped up to the floor
    t.update(np.linspace(0.0, 0.6, 1000))
    assert t.value == pytest.approx(0.57, abs=0.01)  # window now holds only the last 1000
    t.update(np.ones(1000))
    assert t.value == 0.7  # ceiling


def test_adaptive_threshold_judges_a_batch_by_the_scores_before_it() -> None:
    t = AdaptiveThreshold(
        quantile=0.5, window=100, floor=0.0, ceiling=1.0, min_samples=10, initial=0.5
    )
    p = DecisionPolicy(medium_threshold=0.0, review_threshold=0.5, block_threshold=1.0, adaptive=t)
    first = p.decide(np.full(20, 0.4), rules(20))
    assert (first.action == "ALLOW").all() and first.review_threshold == 0.5
    second = p.decide(np.full(20, 0.4), rules(20))
    assert (second.action == "REVIEW").all() and second.review_threshold == pytest.approx(0.4)


def test_alert_budget_downgrades_lowest_reviews_never_blocks() -> None:
    p = DecisionPolicy(budget=AlertBudget(max_alerts=3, period_ms=60_000))
    scores = np.array([0.95, 0.7, 0.8, 0.65, 0.99, 0.75])
    t = np.zeros(6, dtype=np.int64)
    res = p.decide(scores, rules(6), event_time_ms=t)
    # Two BLOCKs use 2 of 3; one REVIEW left: the highest (0.8) keeps it.
    assert res.action.tolist() == ["BLOCK", "ALLOW", "REVIEW", "ALLOW", "BLOCK", "ALLOW"]
    assert [BUDGET_REASON in r for r in res.reasons] == [False, True, False, True, False, True]
    assert res.risk_level[1] == "MEDIUM"
    # Same period: budget spent, blocks still block.
    res2 = p.decide(np.array([0.7, 0.99]), rules(2), event_time_ms=np.array([30_000, 30_000]))
    assert res2.action.tolist() == ["ALLOW", "BLOCK"]
    # Next period: budget renewed.
    res3 = p.decide(np.array([0.7]), rules(1), event_time_ms=np.array([60_000]))
    assert res3.action.tolist() == ["REVIEW"]


def test_invalid_thresholds_are_refused() -> None:
    with pytest.raises(ValueError):
        DecisionPolicy(medium_threshold=0.7, review_threshold=0.6)
    with pytest.raises(ValueError):
        AdaptiveThreshold(floor=0.9, ceiling=0.1)
