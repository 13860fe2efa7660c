"""Blocks of keyed features computed from rows grouped by key (shared by both paths).

Both :mod:`~fraudstream.features.offline` and :mod:`~fraudstream.features.online`
arrange their rows the same way (each key's rows contiguous, in processing order,
monotone time) and call these functions, so a feature is defined exactly once.
"""

from __future__ import annotations

import numpy as np

from fraudstream.features.contract import CARD_HISTORY_FEATURES, WINDOWS
from fraudstream.features.native import windows_c
from fraudstream.features.windows import group_starts, grouped_windows, prev_same

WINDOWS_MS: tuple[int, ...] = tuple(s * 1000 for _, s in WINDOWS)
HOUR_MS = 3_600_000
ZSCORE_STD_FLOOR = 1.0  # currency units: a card that always spends 10.00 is not infinitely odd


def window_block(gid: np.ndarray, t: np.ndarray, amount: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Counts then amount sums per window for query rows ``q``: float64 ``[len(q), 6]``.

    The C twin (:func:`~fraudstream.features.native.windows_c`) gives the same array.
    """
    fast = windows_c(gid, t, amount, q, WINDOWS_MS)
    return fast if fast is not None else window_block_sorted(gid, t, amount, q)


def window_block_sorted(
    gid: np.ndarray, t: np.ndarray, amount: np.ndarray, q: np.ndarray
) -> np.ndarray:
    """:func:`window_block` with numpy searches only (the fallback, and the tests' reference)."""
    res = grouped_windows(gid, t, q, WINDOWS_MS, amount)
    cols = [res.count[w].astype(np.float64) for w in WINDOWS_MS]
    cols += [res.total[w] for w in WINDOWS_MS]
    return np.column_stack(cols)


def rank_in_group(gid: np.ndarray) -> np.ndarray:
    """Per row, how many earlier rows share its group id (any order of ids)."""
    order = np.argsort(gid, kind="stable")
    rank = np.empty(gid.shape[0], dtype=np.int64)
    rank[order] = np.arange(gid.shape[0]) - group_starts(gid[order])
    return rank


def running_sums(
    gid: np.ndarray, values: tuple[np.ndarray, ...], start: tuple[np.ndarray, ...]
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Per-group sums added strictly in row order, seeded with ``start[k][group]``.

    Returns (the sum before each row, the total per group). ``((s + a1) + a2) + ...``
    bit for bit, whatever the batching, which a cumsum difference or pandas' (Kahan
    compensated) group cumsum does not give; so state bytes and history features do
    not depend on where batches were cut. One vectorised step per rank in group.
    """
    rank = rank_in_group(gid)
    order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[order], np.arange(int(rank.max(initial=-1)) + 2))
    acc = [np.array(s, dtype=np.float64, copy=True) for s in start]
    before = [np.empty(gid.shape[0], dtype=np.float64) for _ in values]
    for k in range(bounds.shape[0] - 1):
        rows = order[bounds[k] : bounds[k + 1]]  # at most one row per group
        g = gid[rows]
        for a, b, v in zip(acc, before, values, strict=True):
            b[rows] = a[g]
            a[g] = a[g] + v[rows]
    return tuple(before), tuple(acc)


def first_seen(gid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """True where a row's (group, value) occurs for the first time (0 counts as missing)."""
    return (prev_same(gid, values) < 0) & (values != 0)


def card_history_block(
    gid: np.ndarray,
    t: np.ndarray,
    amount: np.ndarray,
    merchant: np.ndarray,
    country: np.ndarray,
    q: np.ndarray,
    prior: tuple[np.ndarray, np.ndarray, np.ndarray],
    new_device: np.ndarray,
    new_country: np.ndarray,
) -> np.ndarray:
    """The :data:`CARD_HISTORY_FEATURES` for query rows ``q`` of the card groups.

    Args:
        gid, t, amount, merchant, country: grouped card rows (merchant/country hashed).
        q: query rows.
        prior: (count, sum, sum of squares) of the card's strictly earlier amounts, per
            query row (all-time, not windowed).
        new_device, new_country: first-seen flags per query row (before the history test).
    """
    n_prior, s_prior, ss_prior = prior
    res = grouped_windows(
        gid, t, q, [HOUR_MS], distinct={"m": (HOUR_MS, merchant), "c": (HOUR_MS, country)}
    )
    out = np.empty((q.shape[0], len(CARD_HISTORY_FEATURES)), dtype=np.float64)
    has_prior = n_prior > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s_prior / n_prior
        std = np.sqrt(np.maximum(ss_prior / n_prior - mean * mean, 0.0))
        z = (amount[q] - mean) / (std + ZSCORE_STD_FLOOR)
    out[:, 0] = n_prior
    out[:, 1] = np.where(n_prior >= 2, z, np.nan)
    out[:, 2] = res.distinct["m"]
    out[:, 3] = res.distinct["c"]
    out[:, 4] = new_device & has_prior
    out[:, 5] = new_country & has_prior
    prev = np.maximum(q - 1, 0)
    same_group = (q > 0) & (gid[prev] == gid[q])
    out[:, 6] = np.where(same_group, (t[q] - t[prev]) / 1000.0, np.nan)
    return out
