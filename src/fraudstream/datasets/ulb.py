"""ULB credit card fraud (Worldline / ULB, September 2013): the subsets we hold.

Features: ``V1..V28`` (PCA components), ``Amount`` and ``log1p(Amount)``. ``Time``
is the split key, never a feature: in subset A every normal row lies in the
first 2.5 hours, so time alone would separate the classes.

* ``random`` (subset B, default): all 492 frauds + 1,230 normals drawn across both
  days (28.6 % fraud): the one subset on which a temporal split is meaningful.
* ``first``: all 492 frauds + the first 6,917 normals in time order (6.64 % fraud);
  after 9,188 s it holds frauds only, so a temporal test slice would be one class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from fraudstream.datasets.base import Dataset, resolve_path

FILES = {
    "random": "ulb-creditcard_all-frauds_random-normals.csv.gz",
    "first": "ulb-creditcard_all-frauds_first-normals.csv.gz",
}
FEATURES: tuple[str, ...] = (*(f"V{i}" for i in range(1, 29)), "Amount", "log_amount")


def load(datasets_dir: Path, subset: Literal["random", "first"] = "random") -> Dataset:
    """One ULB subset, sorted by ``Time`` (stable, so ties keep file order)."""
    path = resolve_path(datasets_dir, FILES[subset])
    df = pd.read_csv(path)
    df = df.drop(columns=[c for c in df.columns if c.startswith("Unnamed")])
    df["log_amount"] = np.log1p(df["Amount"].clip(lower=0))
    df = df.sort_values("Time", kind="stable").reset_index(drop=True)
    rate = df["Class"].mean()
    return Dataset(
        name=f"ulb-{subset}",
        frame=df,
        feature_names=FEATURES,
        label_col="Class",
        time_col="Time",
        card_col=None,
        notes=[
            f"ULB subset '{subset}' ({len(df)} rows, fraud rate {rate:.1%}); the full data "
            "has 284,807 rows and a 0.172 % fraud rate, so AUPRC here is not comparable "
            "with published full-data AUPRC"
        ],
    )
