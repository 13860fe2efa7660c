"""The reports of ``fraudstream evaluate`` for the real datasets."""

from __future__ import annotations

import logging
from typing import Any

from fraudstream.datasets.base import Dataset
from fraudstream.learn.prequential import prequential_report
from fraudstream.learn.training import train_on_dataset

log = logging.getLogger(__name__)


def dataset_report(ds: Dataset, *, seed: int = 0, online: bool = False) -> dict[str, Any]:
    """Temporal 60/20/20 split: every member, the ensemble and a logistic baseline."""
    result = train_on_dataset(ds, seed=seed, baseline=True)
    split = result.metadata["split"]
    tables: dict[str, Any] = {
        f"Temporal split by {ds.time_col}: test slice (last 20 %)": result.metrics,
    }
    if online:
        tables["Prequential (test-then-train), rows in time order"] = prequential_report(
            ds, batch_size=max(10, min(1000, len(ds.frame) // 50)), seed=seed
        )
    return {
        "title": f"Dataset {ds.name}",
        "notes": [
            *ds.notes,
            f"train {split['train']} / validation {split['valid']} / test {split['test']} rows "
            f"by {ds.time_col}; validation slice used for early stopping, ensemble weights "
            "and calibration; the logistic baseline uses the training slice only.",
            f"ensemble weights: { {k: round(v, 3) for k, v in result.ensemble.weights.items()} }",
        ],
        "tables": tables,
        "metadata": result.metadata,
    }
