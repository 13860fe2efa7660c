"""The rule language, rule sets, lists and hot reload."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from prometheus_client import REGISTRY

from fraudstream.detect.rules import (
    LIST_ALLOW,
    LIST_BLOCK,
    LIST_NONE,
    RuleSet,
    RuleSetLoader,
    load_ruleset,
)
from fraudstream.detect.rules.loader import default_rules_path
from fraudstream.errors import ConfigError
from fraudstream.events.batch import TransactionBatch
from fraudstream.features.contract import FEATURE_INDEX as F
from fraudstream.features.contract import FEATURE_NAMES


def matrix(rows: list[dict[str, float]]) -> np.ndarray:
    x = np.zeros((len(rows), len(FEATURE_NAMES)))
    for i, r in enumerate(rows):
        for k, v in r.items():
            x[i, F[k]] = v
    return x


def ruleset(rules: list[dict], lists: dict | None = None, version: str = "1") -> RuleSet:
    return RuleSet.from_dict({"id": "t", "version": version, "rules": rules, "lists": lists})


def batch(n: int, **cols: list) -> TransactionBatch:
    return TransactionBatch([{k: v[i] for k, v in cols.items()} for i in range(n)])


def test_nested_all_any_not_in_and_fields() -> None:
    rs = ruleset(
        [
            {
                "id": "r",
                "risk": "HIGH",
                "when": {
                    "all": [
                        {
                            "any": [
                                {"feature": "amount", "op": ">", "value": 100},
                                {"feature": "count_by_card_1m", "in": [7, 8]},
                            ]
                        },
                        {"not": {"field": "channel", "in": ["POS"]}},
                    ]
                },
            }
        ]
    )
    x = matrix(
        [{"amount": 200}, {"amount": 5, "count_by_card_1m": 7}, {"amount": 500}, {"amount": 5}]
    )
    b = batch(4, channel=["ECOM", "ATM", "POS", "ECOM"])
    assert rs.evaluate(x, b).hits[:, 0].tolist() == [True, True, False, False]


def test_missing_values_never_fire() -> None:
    rs = ruleset(
        [
            {"id": "ne", "when": {"feature": "count_by_device_1h", "op": "!=", "value": 3}},
            {"id": "notin", "when": {"field": "device_id", "not_in": ["d1"]}},
            {
                "id": "ratio",
                "when": {
                    "feature": "amount",
                    "op": ">",
                    "times": 2,
                    "feature_value": "amount_sum_by_device_24h",
                },
            },
        ]
    )
    x = matrix([{"amount": 10, "amount_sum_by_device_24h": 1, "count_by_device_1h": 1}, {}])
    x[1, F["count_by_device_1h"]] = np.nan
    x[1, F["amount_sum_by_device_24h"]] = np.nan
    hits = rs.evaluate(x, batch(2, device_id=["d2", None])).hits
    assert hits.tolist() == [[True, True, True], [False, False, False]]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"id": "a", "when": {"feature": "no_such_feature", "op": ">", "value": 1}},
            "unknown feature",
        ),
        ({"id": "a", "when": {"feature": "amount", "op": "=~", "value": 1}}, "op must be"),
        ({"id": "a", "when": {"feature": "amount", "op": ">", "value": "x"}}, "number"),
        (
            {"id": "a", "risk": "SEVERE", "when": {"feature": "amount", "op": ">", "value": 1}},
            "risk",
        ),
        ({"id": "a", "when": {"all": []}}, "non-empty list"),
        (
            {"id": "a", "when": {"feature": "amount", "op": ">", "value": 1}, "sev": 1},
            "unknown keys",
        ),
        ({"when": {"feature": "amount", "op": ">", "value": 1}}, "needs at least"),
        ({"id": "a", "when": {"field": "is_fraud", "op": "==", "value": True}}, "ground truth"),
    ],
)
def test_malformed_rules_are_config_errors(rule: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ruleset([rule])


def test_duplicate_rule_ids_are_refused() -> None:
    r = {"id": "a", "when": {"feature": "amount", "op": ">", "value": 1}}
    with pytest.raises(ConfigError, match="twice"):
        ruleset([r, r])


def test_shadow_rules_are_counted_but_do_not_act() -> None:
    rs = ruleset(
        [
            {
                "id": "live",
                "risk": "MEDIUM",
                "score": 0.4,
                "when": {"feature": "amount", "op": ">", "value": 10},
            },
            {
                "id": "trial",
                "risk": "CRITICAL",
                "score": 0.99,
                "shadow": True,
                "when": {"feature": "amount", "op": ">", "value": 50},
            },
        ],
        version="shadow-test",
    )
    res = rs.evaluate(matrix([{"amount": 100}, {"amount": 20}, {"amount": 1}]), batch(3))
    assert res.risk_floor.tolist() == [1, 1, -1]  # MEDIUM from "live" only
    assert res.rule_score.tolist() == [0.4, 0.4, 0.0]
    assert res.reasons(0) == ["rule:live", "shadow:trial"]
    labels = {"rule": "trial", "ruleset_version": "shadow-test", "shadow": "true"}
    assert REGISTRY.get_sample_value("fraudstream_rule_hits_total", labels) == 1.0
    labels = {"rule": "live", "ruleset_version": "shadow-test", "shadow": "false"}
    assert REGISTRY.get_sample_value("fraudstream_rule_hits_total", labels) == 2.0


def test_blocklist_beats_allowlist() -> None:
    rs = ruleset([], lists={"allow": {"card_id": ["vip"]}, "block": {"device_id": ["bad-dev"]}})
    b = batch(3, card_id=["vip", "vip", "c"], device_id=["ok", "bad-dev", None])
    res = rs.evaluate(matrix([{}, {}, {}]), b)
    assert res.list_action.tolist() == [LIST_ALLOW, LIST_BLOCK, LIST_NONE]
    assert res.reasons(1) == ["allowlist:card_id", "blocklist:device_id"]


def test_unknown_list_field_is_refused() -> None:
    with pytest.raises(ConfigError, match="field must be one of"):
        ruleset([], lists={"block": {"email": ["x"]}})


def test_default_ruleset_has_the_seed_rules_and_fires() -> None:
    rs = load_ruleset(default_rules_path())
    ids = {r.id for r in rs.rules}
    assert {
        "amount_ge_900",
        "micro_amount_burst",
        "round_amount_high",
        "card_velocity_1m",
        "new_device_new_country",
    } <= ids
    x = matrix(
        [
            {"amount": 950},
            {"amount": 0.5, "is_micro_amount": 1, "count_by_card_1h": 4},
            {"amount": 40, "count_by_card_1m": 6},
            {"amount": 40, "is_new_device_for_card": 1, "is_new_country_for_card": 1},
            {"amount": 40},
        ]
    )
    res = rs.evaluate(x, batch(5, tx_type=["PURCHASE"] * 5))
    assert "rule:amount_ge_900" in res.reasons(0)
    assert "rule:micro_amount_burst" in res.reasons(1)
    assert "rule:card_velocity_1m" in res.reasons(2)
    assert "rule:new_device_new_country" in res.reasons(3)
    assert res.reasons(4) == []
    assert (res.risk_floor[:4] >= 2).all()


def _write(path: Path, version: str, threshold: float, mtime: int) -> None:
    doc = {
        "id": "hot",
        "version": version,
        "rules": [{"id": "big", "when": {"feature": "amount", "op": ">=", "value": threshold}}],
    }
    path.write_text(yaml.safe_dump(doc))
    os.utime(path, ns=(mtime, mtime))


def test_hot_reload_by_mtime_rate_limited_and_broken_file_keeps_old(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    _write(path, "1", 900, 1_000_000_000)
    now = [0.0]
    loader = RuleSetLoader(path, check_interval_s=10.0, clock=lambda: now[0])
    assert loader.current().version == "1"
    _write(path, "2", 100, 2_000_000_000)
    now[0] = 5.0
    assert loader.current().version == "1"  # not checked yet
    now[0] = 11.0
    assert loader.current().version == "2"
    x = matrix([{"amount": 150}])
    assert loader.current().evaluate(x, batch(1)).hits[0, 0]
    path.write_text(
        "id: hot\nversion: '3'\nrules: [{id: x, when: {feature: nope, op: '>', value: 1}}]"
    )
    os.utime(path, ns=(3_000_000_000, 3_000_000_000))
    now[0] = 30.0
    assert loader.current().version == "2"
    assert loader.last_error is not None and "nope" in loader.last_error
    path.write_text(": not yaml : [")
    os.utime(path, ns=(4_000_000_000, 4_000_000_000))
    now[0] = 50.0
    assert loader.current().version == "2"


def test_broken_file_at_startup_is_fatal(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules: []")
    with pytest.raises(ConfigError, match="lacks 'id'"):
        RuleSetLoader(path)
