"""Offline (training) features: the whole contract over a DataFrame, point in time correct.

Rows are taken in their order as the processing order (sort by ``event_time``,
stably, before calling): each row sees itself and the rows before it, never a
later one, exactly as :class:`~fraudstream.features.online.OnlineFeatures` sees a
stream. Everything is vectorised (factorize + stable argsort + searchsorted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraudstream.errors import ValidationError
from fraudstream.features.contract import FEATURE_NAMES, STATELESS_FEATURES, WINDOW_KEYS
from fraudstream.features.keyed import card_history_block, first_seen, running_sums, window_block
from fraudstream.features.stateless import STATELESS_INPUTS, hash_column, stateless_features
from fraudstream.features.windows import group_starts, segmented_cummax

_OBJECT_INPUTS = tuple(c for c in STATELESS_INPUTS if c not in ("amount", "event_time"))


def _event_time_ms(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s):
        return np.asarray(s.astype("datetime64[ms, UTC]" if s.dt.tz else "datetime64[ms]")).view(
            np.int64
        )
    return np.asarray(s, dtype=np.int64)


def _objects(s: pd.Series) -> np.ndarray:
    """An object column with None (not NaN) for missing values, as decoded records have."""
    arr = s.to_numpy(dtype=object, copy=True)
    arr[pd.isna(s).to_numpy()] = None
    return arr


def frame_columns(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The contract's input columns of ``df`` as arrays (missing optional fields -> None)."""
    missing = [c for c in ("amount", "event_time", "card_id") if c not in df.columns]
    if missing:
        raise ValidationError(f"transactions frame lacks columns {missing}")
    cols: dict[str, np.ndarray] = {
        "amount": df["amount"].to_numpy(dtype=np.float64),
        "event_time": _event_time_ms(df["event_time"]),
    }
    for c in (*_OBJECT_INPUTS, *(f for _, f in WINDOW_KEYS), "merchant_id"):
        cols[c] = _objects(df[c]) if c in df.columns else np.full(len(df), None, dtype=object)
    return cols


def _grouped(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row order grouping each key's rows in processing order, group id per sorted row)."""
    codes, _ = pd.factorize(pd.Series(keys), use_na_sentinel=True)
    rows = np.flatnonzero(codes >= 0)
    order = rows[np.argsort(codes[rows], kind="stable")]
    return order, codes[order].astype(np.int64)


def offline_features(df: pd.DataFrame) -> np.ndarray:
    """The feature matrix ``[len(df), len(FEATURE_NAMES)]`` of a time-sorted frame.

    Args:
        df: transactions (fields of ``transaction.avsc``) in processing order.
            Leakage columns may be present; they are never read.

    Example:
        >>> df = pd.DataFrame({"card_id": ["c", "c"], "event_time": [0, 30_000],
        ...                    "amount": [5.0, 7.0], "merchant_id": ["m1", "m2"]})
        >>> x = offline_features(df)
        >>> from fraudstream.features.contract import FEATURE_INDEX as I
        >>> x[:, I["count_by_card_1m"]].tolist(), x[:, I["seconds_since_prev_by_card"]].tolist()
        ([1.0, 2.0], [nan, 30.0])
    """
    cols = frame_columns(df)
    n = len(df)
    out = np.full((n, len(FEATURE_NAMES)), np.nan)
    out[:, : len(STATELESS_FEATURES)] = stateless_features(cols)
    amount, t_raw = cols["amount"], cols["event_time"]
    col = len(STATELESS_FEATURES)
    card_order: np.ndarray | None = None
    card_gid = card_t = np.zeros(0, dtype=np.int64)
    for name, field in WINDOW_KEYS:
        order, gid = _grouped(cols[field])
        t = segmented_cummax(gid, t_raw[order])
        q = np.arange(order.shape[0])
        out[order, col : col + 6] = window_block(gid, t, amount[order], q)
        col += 6
        if name == "card":
            card_order, card_gid, card_t = order, gid, t
    assert card_order is not None
    o, gid, t = card_order, card_gid, card_t
    a = amount[o]
    q = np.arange(o.shape[0])
    start = group_starts(gid)
    # Per-card sums of strictly earlier amounts, added in event order exactly as the
    # online state accumulates them (same floats, bit for bit).
    zeros = np.zeros(int(gid.max(initial=-1)) + 1)
    (s_prior, ss_prior), _ = running_sums(gid, (a, a * a), (zeros, zeros))
    prior = ((q - start).astype(np.float64), s_prior, ss_prior)
    merchant = hash_column(cols["merchant_id"][o])
    country = hash_column(cols["merchant_country"][o])
    new_dev = first_seen(gid, hash_column(cols["device_id"][o]))
    new_cty = first_seen(gid, country)
    out[o, col:] = card_history_block(gid, t, a, merchant, country, q, prior, new_dev, new_cty)
    return out
