"""Fuzz the rule compiler: any YAML-ish value compiles or raises ConfigError, nothing else."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.detect.rules import RuleSet
from fraudstream.errors import ConfigError
from fraudstream.events.batch import TransactionBatch
from fraudstream.features.contract import FEATURE_NAMES

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
    st.sampled_from(["amount", "count_by_card_1m", "channel", ">=", "==", "in", "x"]),
)  # fmt: skip
keys = st.sampled_from(
    ["all", "any", "not", "feature", "field", "op", "value", "in", "not_in", "feature_value",
     "times", "bogus"]
)  # fmt: skip
specs = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(when=specs, risk=st.sampled_from(["LOW", "HIGH", "nope", 3]))
def test_compiles_or_config_error(when: object, risk: object) -> None:
    try:
        rs = RuleSet.from_dict(
            {"id": "f", "version": "1", "rules": [{"id": "r", "risk": risk, "when": when}]}
        )
    except ConfigError:
        return
    x = np.random.default_rng(0).normal(size=(4, len(FEATURE_NAMES)))
    x[0] = np.nan
    b = TransactionBatch([{"channel": "POS"}, {"channel": None}, {}, {"channel": "ECOM"}])
    res = rs.evaluate(x, b)
    assert res.hits.shape == (4, 1) and res.hits.dtype == bool
