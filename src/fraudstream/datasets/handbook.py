"""The Fraud Detection Handbook's simulated transactions and their features.

Raw columns: ``TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT,
TX_TIME_SECONDS, TX_TIME_DAYS, TX_FRAUD, TX_FRAUD_SCENARIO`` (the scenario is
ground truth and never a feature).

Two feature sets:

* ``BASELINE_FEATURES``: the handbook's 15 features (chapter 3): amount, weekend
  and night flags, customer spending over 1/7/30 days (including the current
  transaction), terminal volume and risk over 1/7/30 days *delayed by the label
  delay* (window ``[t - delay - w, t - delay)``, labels younger than the delay are
  unknown at scoring time).
* ``EXTENDED_FEATURES``: the baseline plus past-only amount deviations from the
  customer's own history, longer windows, delayed fraud counts per terminal and per
  customer, and a count of the customer's recent unusual amounts.
* ``SELECTED_FEATURES``: the extended set, delayed terminal fraud counts over 14
  and 60 days and risk over 60 days, and the terminal's *known-fraud streak*
  (``STREAK_FEATURES``): how many of its latest known transactions (older than the
  delay) are all fraud, since when, and how long ago its last known legitimate one
  was. A compromised terminal produces only frauds for a while; the streak's age
  says how long it has, so an episode that has ended stops scoring high. Chosen on
  the validation folds (docs/models.md).

Every window ends at or before the transaction itself and every label-derived
feature ends ``delay`` before it, so no feature sees the future or an unknown label.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from fraudstream.datasets.base import Dataset, file_sha256, resolve_path
from fraudstream.datasets.handbook_graph import GRAPH_FEATURES, add_graph_features
from fraudstream.datasets.windows import EntityIndex

log = logging.getLogger(__name__)

FILENAME = "handbook_simulated-data-raw_all-days.csv.gz"
FEATURE_VERSION = "hb-4"
DAY = 86_400.0
DEFAULT_DELAY_DAYS = 7

BASELINE_FEATURES: tuple[str, ...] = (
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *(f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW" for w in (1, 7, 30)),
    *(f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW" for w in (1, 7, 30)),
    *(f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW" for w in (1, 7, 30)),
    *(f"TERMINAL_ID_RISK_{w}DAY_WINDOW" for w in (1, 7, 30)),
)

EXTRA_FEATURES: tuple[str, ...] = (
    "CUSTOMER_ID_NB_TX_90DAY_WINDOW",
    "CUSTOMER_ID_PAST_MEAN_AMOUNT_30DAY",
    "CUSTOMER_ID_PAST_STD_AMOUNT_30DAY",
    "AMOUNT_OVER_CUSTOMER_PAST_MEAN_30DAY",
    "AMOUNT_ZSCORE_CUSTOMER_30DAY",
    "AMOUNT_OVER_CUSTOMER_PAST_MEAN_90DAY",
    "CUSTOMER_ID_AVG1_OVER_AVG30",
    "CUSTOMER_ID_NB_HIGH_RATIO_TX_7DAY",
    "CUSTOMER_ID_NB_HIGH_RATIO_TX_1DAY",
    "CUSTOMER_ID_NB_FRAUD_DELAYED_14DAY",
    "TERMINAL_ID_NB_FRAUD_DELAYED_1DAY",
    "TERMINAL_ID_NB_FRAUD_DELAYED_7DAY",
    "TERMINAL_ID_NB_FRAUD_DELAYED_30DAY",
    "TERMINAL_ID_RISK_14DAY_WINDOW",
    "TERMINAL_ID_NB_TX_0DAY_TODAY",
    "TX_HOUR",
)

EXTENDED_FEATURES: tuple[str, ...] = BASELINE_FEATURES + EXTRA_FEATURES

STREAK_FEATURES: tuple[str, ...] = (
    "TERMINAL_ID_FRAUD_STREAK_N",
    "TERMINAL_ID_FRAUD_STREAK_AGE",
    "TERMINAL_ID_LAST_LEGIT_AGE",
)

#: Longer delayed terminal windows (labels older than the delay only).
LONG_TERMINAL_FEATURES: tuple[str, ...] = (
    "TERMINAL_ID_NB_FRAUD_DELAYED_14DAY",
    "TERMINAL_ID_NB_FRAUD_DELAYED_60DAY",
    "TERMINAL_ID_RISK_60DAY_WINDOW",
)

SELECTED_FEATURES: tuple[str, ...] = EXTENDED_FEATURES + STREAK_FEATURES + LONG_TERMINAL_FEATURES

#: The selected set plus the customer-terminal graph features (``handbook_graph``).
WITH_GRAPH_FEATURES: tuple[str, ...] = SELECTED_FEATURES + GRAPH_FEATURES

#: How far back (beyond the delay) the streak features look, in days.
STREAK_HORIZON_DAYS = 60


def load_raw(datasets_dir: Path) -> pd.DataFrame:
    """The raw 1.75 M transactions, sorted by time."""
    path = resolve_path(datasets_dir, FILENAME)
    df = pd.read_csv(path)
    df["TX_DATETIME"] = pd.to_datetime(df["TX_DATETIME"])
    return df.sort_values(["TX_TIME_SECONDS", "TRANSACTION_ID"], kind="stable").reset_index(
        drop=True
    )


def add_features(df: pd.DataFrame, delay_days: int = DEFAULT_DELAY_DAYS) -> pd.DataFrame:
    """Add ``WITH_GRAPH_FEATURES`` (which include all others) to a raw frame (in place).

    Example:
        >>> raw = pd.DataFrame({
        ...     "TX_DATETIME": pd.to_datetime(["2018-04-01 01:00", "2018-04-02 12:00"]),
        ...     "CUSTOMER_ID": [1, 1], "TERMINAL_ID": [5, 5], "TX_AMOUNT": [10.0, 30.0],
        ...     "TX_TIME_SECONDS": [3600, 129600], "TX_FRAUD": [1, 0]})
        >>> out = add_features(raw)
        >>> out["CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"].tolist()
        [10.0, 20.0]
        >>> out["TERMINAL_ID_NB_FRAUD_DELAYED_7DAY"].tolist()  # label not known yet
        [0.0, 0.0]
    """
    t = df["TX_TIME_SECONDS"].to_numpy(dtype=np.float64)
    amount = df["TX_AMOUNT"].to_numpy(dtype=np.float64)
    fraud = df["TX_FRAUD"].to_numpy(dtype=np.float64)
    ones = np.ones_like(amount)
    delay = delay_days * DAY
    dt = df["TX_DATETIME"].dt
    df["TX_DURING_WEEKEND"] = (dt.day_of_week >= 5).astype(np.int8)
    df["TX_DURING_NIGHT"] = (dt.hour <= 6).astype(np.int8)
    df["TX_HOUR"] = dt.hour.astype(np.int8)

    cust = EntityIndex.build(df["CUSTOMER_ID"].to_numpy(), t, 120 * DAY)
    for w in (1, 7, 30, 90):
        n = cust.window_sum(ones, start=w * DAY, include_current=True)
        df[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = n
        if w != 90:
            s = cust.window_sum(amount, start=w * DAY, include_current=True)
            df[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = s / n
    # Past-only statistics (the current amount compared with the customer's history).
    past_n = cust.window_sum(ones, start=30 * DAY)
    past_s = cust.window_sum(amount, start=30 * DAY)
    past_q = cust.window_sum(amount * amount, start=30 * DAY)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean30 = np.where(past_n > 0, past_s / past_n, np.nan)
        std30 = np.sqrt(np.maximum(past_q / past_n - mean30 * mean30, 0.0))
        n90 = cust.window_sum(ones, start=90 * DAY)
        mean90 = np.where(n90 > 0, cust.window_sum(amount, start=90 * DAY) / n90, np.nan)
        ratio30 = amount / mean30
        df["CUSTOMER_ID_PAST_MEAN_AMOUNT_30DAY"] = mean30
        df["CUSTOMER_ID_PAST_STD_AMOUNT_30DAY"] = std30
        df["AMOUNT_OVER_CUSTOMER_PAST_MEAN_30DAY"] = ratio30
        df["AMOUNT_ZSCORE_CUSTOMER_30DAY"] = (amount - mean30) / np.maximum(std30, 1.0)
        df["AMOUNT_OVER_CUSTOMER_PAST_MEAN_90DAY"] = amount / mean90
        df["CUSTOMER_ID_AVG1_OVER_AVG30"] = (
            df["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] / mean30
        ).to_numpy()
    high = np.nan_to_num(ratio30 > 2.5).astype(np.float64)
    df["CUSTOMER_ID_NB_HIGH_RATIO_TX_7DAY"] = cust.window_sum(
        high, start=7 * DAY, include_current=True
    )
    df["CUSTOMER_ID_NB_HIGH_RATIO_TX_1DAY"] = cust.window_sum(high, start=DAY, include_current=True)
    df["CUSTOMER_ID_NB_FRAUD_DELAYED_14DAY"] = cust.window_sum(
        fraud, start=delay + 14 * DAY, end=delay
    )

    term = EntityIndex.build(
        df["TERMINAL_ID"].to_numpy(), t, delay + max(120, STREAK_HORIZON_DAYS) * DAY
    )
    for w in (1, 7, 14, 30, 60):
        n = term.window_sum(ones, start=delay + w * DAY, end=delay)
        f = term.window_sum(fraud, start=delay + w * DAY, end=delay)
        with np.errstate(divide="ignore", invalid="ignore"):
            df[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = np.where(n > 0, f / n, 0.0)
        df[f"TERMINAL_ID_NB_FRAUD_DELAYED_{w}DAY"] = f
        if w not in (14, 60):
            df[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = n
    df["TERMINAL_ID_NB_TX_0DAY_TODAY"] = term.window_sum(ones, start=DAY, include_current=True)
    _add_streak(df, term, fraud, delay)
    # Customer-terminal graph signal (issue 5's comparison); not in SELECTED_FEATURES.
    add_graph_features(df)
    return df


def _add_streak(df: pd.DataFrame, term: EntityIndex, fraud: np.ndarray, delay: float) -> None:
    """The terminal's run of known frauds since its last known legitimate transaction.

    Only labels older than ``delay`` are read. Ages are in days, NaN when there is no
    such transaction within ``STREAK_HORIZON_DAYS`` beyond the delay.
    """
    horizon = delay + STREAK_HORIZON_DAYS * DAY
    legit_age = term.event_age(fraud == 0, start=horizon, end=delay)
    since = np.where(np.isnan(legit_age), horizon, legit_age)
    df["TERMINAL_ID_FRAUD_STREAK_N"] = term.window_sum(fraud, start=since, end=delay)
    first = term.event_age(fraud > 0, start=since, end=delay, first=True)
    df["TERMINAL_ID_FRAUD_STREAK_AGE"] = first / DAY
    df["TERMINAL_ID_LAST_LEGIT_AGE"] = legit_age / DAY


def load(
    datasets_dir: Path,
    cache_dir: Path | None = None,
    delay_days: int = DEFAULT_DELAY_DAYS,
    extended: bool = True,
) -> Dataset:
    """The handbook dataset with features, cached as a pickle under ``cache_dir``."""
    path = resolve_path(datasets_dir, FILENAME)
    df: pd.DataFrame | None = None
    cache: Path | None = None
    if cache_dir is not None:
        tag = file_sha256(path)[:12]
        cache = Path(cache_dir) / f"handbook_{FEATURE_VERSION}_d{delay_days}_{tag}.pkl"
        if cache.is_file():
            log.info("handbook features from cache %s", cache)
            df = pd.read_pickle(cache)  # noqa: S301 - our own cache file
    if df is None:
        df = add_features(load_raw(datasets_dir), delay_days)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            df.to_pickle(tmp)
            tmp.replace(cache)
    names = SELECTED_FEATURES if extended else BASELINE_FEATURES
    return Dataset(
        name="handbook",
        frame=df,
        feature_names=names,
        label_col="TX_FRAUD",
        time_col="TX_TIME_SECONDS",
        card_col="CUSTOMER_ID",
        notes=["complete handbook dataset (1,754,155 transactions)"],
    )
