"""Member pruning on the validation slice: useless members get weight 0."""

from __future__ import annotations

import numpy as np

from fraudstream.learn.training import prune_members, stacking_weights


def _scores(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(4000) < 0.05).astype(int)
    signal = y + rng.normal(scale=0.6, size=y.size)
    strong = 1.0 / (1.0 + np.exp(-3.0 * (signal - 0.5)))
    noise = rng.random(y.size)  # carries no information about y
    second = 1.0 / (1.0 + np.exp(-(y + rng.normal(scale=0.9, size=y.size) - 0.5)))
    return {"gbm": strong, "noise": noise, "second": second}, y


def test_noise_member_is_dropped_and_weights_renormalised() -> None:
    scores, y = _scores()
    w = prune_members(scores, y)
    assert set(w) == set(scores)
    assert w["noise"] == 0.0
    assert w["gbm"] > 0
    assert abs(sum(w.values()) - 1.0) < 1e-9


def test_informative_second_member_is_kept() -> None:
    # An independent noisy view of the label adds information: AP rises with it.
    scores, y = _scores(1)
    full = stacking_weights({"gbm": scores["gbm"], "second": scores["second"]}, y)
    assert full["second"] > 0
    w = prune_members({"gbm": scores["gbm"], "second": scores["second"]}, y)
    assert w["second"] > 0
