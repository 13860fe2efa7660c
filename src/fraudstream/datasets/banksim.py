"""BankSim (Lopez-Rojas and Axelsson, 2014): a random 20,000-row sample we hold.

Columns: ``step, customer, age, gender, merchant, category, amount, fraud``.
Features are label-free encodings: amount, log amount, age (``U`` -> missing),
gender and category one-hot, merchant as a frequency-ordered code, and the
customer's running count and mean amount before each transaction (thin here:
the sample keeps 1 row in 30 of the full file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fraudstream.datasets.base import Dataset, resolve_path
from fraudstream.datasets.windows import EntityIndex

FILENAME = "banksim_random-sample-20k.csv.gz"
CATEGORIES = (
    "es_barsandrestaurants",
    "es_contents",
    "es_fashion",
    "es_food",
    "es_health",
    "es_home",
    "es_hotelservices",
    "es_hyper",
    "es_leisure",
    "es_otherservices",
    "es_sportsandtoys",
    "es_tech",
    "es_transportation",
    "es_travel",
    "es_wellnessandbeauty",
)
GENDERS = ("E", "F", "M", "U")


def load(datasets_dir: Path) -> Dataset:
    """The BankSim sample with features, sorted by ``step``."""
    df = pd.read_csv(resolve_path(datasets_dir, FILENAME))
    for col in ("customer", "merchant", "category", "age", "gender"):
        df[col] = df[col].astype(str).str.strip("'")
    df = df.sort_values("step", kind="stable").reset_index(drop=True)
    df["log_amount"] = np.log1p(df["amount"].clip(lower=0))
    df["age_code"] = pd.to_numeric(df["age"], errors="coerce")
    names = ["amount", "log_amount", "age_code"]
    for g in GENDERS:
        df[f"gender_{g}"] = (df["gender"] == g).astype(np.int8)
        names.append(f"gender_{g}")
    for c in CATEGORIES:
        df[f"cat_{c}"] = (df["category"] == c).astype(np.int8)
        names.append(f"cat_{c}")
    freq = df["merchant"].value_counts()
    df["merchant_code"] = df["merchant"].map({m: i for i, m in enumerate(freq.index)})
    df["merchant_frequency"] = df["merchant"].map(freq / len(df))
    idx = EntityIndex.build(df["customer"].to_numpy(), df["step"].to_numpy(float), 1000.0)
    n = idx.window_sum(np.ones(len(df)), start=1000.0)
    s = idx.window_sum(df["amount"].to_numpy(float), start=1000.0)
    df["customer_prev_count"] = n
    with np.errstate(divide="ignore", invalid="ignore"):
        df["amount_over_customer_mean"] = np.where(n > 0, df["amount"] / (s / n), np.nan)
    names += [
        "merchant_code",
        "merchant_frequency",
        "customer_prev_count",
        "amount_over_customer_mean",
    ]
    return Dataset(
        name="banksim",
        frame=df,
        feature_names=tuple(names),
        label_col="fraud",
        time_col="step",
        card_col="customer",
        notes=["BankSim random sample of 20,000 of 594,643 rows (fraud rate 1.20 %, as full)"],
    )
