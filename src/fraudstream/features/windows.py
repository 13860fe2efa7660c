"""Per-key sliding-window aggregation, vectorised, shared by the offline and online paths.

The kernel (:func:`grouped_windows`) works on rows already grouped by key (each
key's rows contiguous, in processing order) and answers, for chosen query rows,
count / sum / distinct-count over time windows ending at the query row. Offline,
the rows are a whole history; online (:mod:`fraudstream.features.online`) they are
the decoded state of the keys in a batch followed by the batch itself. Same code,
same answers.

Every window is two ``searchsorted`` calls on one monotone composite key
``group * span + t`` plus a cumulative sum: no Python loop over rows.

:func:`rolling_by_key` is the generic entry point for any table (keys, windows in
seconds and aggregations as parameters), used by training on the real datasets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fraudstream.features.native import distinct_c, prev_same_c


@dataclass(frozen=True, slots=True)
class WindowResult:
    """Per query row: ``count[w]`` and ``total[w]`` per window, ``distinct[name]``."""

    count: dict[int, np.ndarray]
    total: dict[int, np.ndarray]
    distinct: dict[str, np.ndarray]


def run_starts(gid: np.ndarray) -> np.ndarray:
    """True on the first row of each run of equal ``gid`` (groups contiguous)."""
    out = np.empty(gid.shape[0], dtype=bool)
    if out.size:
        out[0] = True
        np.not_equal(gid[1:], gid[:-1], out=out[1:])
    return out


def run_ends(gid: np.ndarray) -> np.ndarray:
    """True on the last row of each run of equal ``gid``."""
    out = np.empty(gid.shape[0], dtype=bool)
    if out.size:
        out[-1] = True
        np.not_equal(gid[1:], gid[:-1], out=out[:-1])
    return out


def dense_ids(gid: np.ndarray) -> np.ndarray:
    """0, 1, 2... numbering of the runs of ``gid``, per row (int64)."""
    return np.cumsum(run_starts(gid), dtype=np.int64) - 1


def group_starts(gid: np.ndarray) -> np.ndarray:
    """For grouped ``gid`` (contiguous runs), the index of the first row of each row's run."""
    idx = np.where(run_starts(gid), np.arange(gid.shape[0]), 0)
    return np.maximum.accumulate(idx) if idx.size else idx


def segmented_cummax(gid: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Running max of ``t`` restarting at each group (groups contiguous)."""
    if t.shape[0] == 0:
        return t.astype(np.int64)
    t = t.astype(np.int64)
    t0 = int(t.min())
    span = int(t.max()) - t0 + 1
    dense = dense_ids(gid)
    # Offsetting each group above every earlier one turns a segmented cummax into a plain one.
    return np.maximum.accumulate(dense * span + (t - t0)) - dense * span + t0


def prev_same(gid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the previous row with the same (group, value), or -1.

    Integer groups and int64 values (the hashes of merchants, countries, devices)
    go through a hash table in C (:func:`~fraudstream.features.native.prev_same_c`);
    anything else, or a machine without a C compiler, through
    :func:`prev_same_sorted`. Same answer.
    """
    fast = prev_same_c(gid, values)
    return fast if fast is not None else prev_same_sorted(gid, values)


def prev_same_sorted(gid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """:func:`prev_same` with numpy sorts only (the fallback, and the tests' reference)."""
    n = gid.shape[0]
    order = np.lexsort((values, gid))  # stable: ties keep row order
    g, v = gid[order], values[order]
    same = np.zeros(n, dtype=bool)
    same[1:] = (g[1:] == g[:-1]) & (v[1:] == v[:-1])
    out = np.full(n, -1, dtype=np.int64)
    prev_sorted = np.concatenate(([-1], order[:-1]))
    out[order[same]] = prev_sorted[same]
    return out


def grouped_windows(
    gid: np.ndarray,
    t_ms: np.ndarray,
    query: np.ndarray,
    windows_ms: Sequence[int],
    values: np.ndarray | None = None,
    distinct: Mapping[str, tuple[int, np.ndarray]] | None = None,
) -> WindowResult:
    """Window aggregates ending at each query row.

    Args:
        gid: int group id per row; each group's rows contiguous.
        t_ms: int64 time per row, non-decreasing within a group.
        query: indices of the rows to answer for.
        windows_ms: window lengths; a window is ``(t - w, t]`` over the rows of the
            group at or before the query row.
        values: float64 per row to sum (the amount), or None.
        distinct: name -> (window, int64 value per row, e.g. merchant hashes): the
            distinct count of those values in that window, reported under ``name``.

    Example:
        >>> g = np.array([0, 0, 0, 1]); t = np.array([0, 500, 2_000, 100])
        >>> r = grouped_windows(g, t, np.arange(4), [1_000], values=np.ones(4))
        >>> r.count[1_000].tolist()
        [1, 2, 1, 1]
    """
    n = gid.shape[0]
    t = t_ms.astype(np.int64)
    t0 = int(t.min()) if n else 0
    span = (int(t.max()) - t0 if n else 0) + max(windows_ms, default=0) + 1
    dense = dense_ids(gid)
    key = dense * span + (t - t0)
    q = np.asarray(query, dtype=np.int64)
    csum = np.concatenate(([0.0], np.cumsum(values))) if values is not None else None
    res = WindowResult({}, {}, {})
    for w in windows_ms:
        # span > any window keeps lo inside the query row's own group.
        lo = np.searchsorted(key, key[q] - w, side="right")
        res.count[w] = q - lo + 1
        if csum is not None:
            res.total[w] = csum[q + 1] - csum[lo]
        for name, (dw, dv) in (distinct or {}).items():
            if dw == w:
                res.distinct[name] = _distinct_in_window(gid, dv, q, lo)
    return res


def _distinct_in_window(
    gid: np.ndarray, values: np.ndarray, q: np.ndarray, lo: np.ndarray
) -> np.ndarray:
    # A row j in [lo, q] is the first of its value in the window iff its previous
    # occurrence is before lo. Walk back from q one step at a time over the rows whose
    # window is still that long: total work = sum of window lengths (small windows).
    prev = prev_same(gid, values)
    fast = distinct_c(prev, q, lo)
    return fast if fast is not None else distinct_from_prev(prev, q, lo)


def distinct_from_prev(prev: np.ndarray, q: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """:func:`_distinct_in_window` from ``prev`` with numpy (fallback and tests' reference)."""
    out = np.zeros(q.shape[0], dtype=np.int64)
    active = np.arange(q.shape[0])
    d = 0
    while active.size:
        j = q[active] - d
        out[active] += prev[j] < lo[active]
        d += 1
        active = active[q[active] - d >= lo[active]]
    return out


def rolling_by_key(
    keys: np.ndarray,
    times_ms: np.ndarray,
    windows_s: Mapping[str, float],
    values: np.ndarray | None = None,
    *,
    include_current: bool = True,
) -> dict[str, np.ndarray]:
    """Generic point-in-time window aggregates for any table, in the rows' own order.

    Rows are taken in their given order as processing order (sort by time first,
    stably); time is made monotone per key. Null keys (None/NaN) give NaN.

    Args:
        keys: the entity of each row (any hashable dtype).
        times_ms: int64 epoch milliseconds.
        windows_s: window name -> seconds, e.g. ``{"1d": 86400, "7d": 604800}``.
        values: float64 to aggregate (sum and mean), or None for counts only.
        include_current: count the row itself (True) or only strictly earlier rows.

    Returns:
        ``count_<name>``, and with values ``sum_<name>`` and ``mean_<name>`` (NaN when
        the window is empty), each float64 ``[n]``.

    Example:
        >>> out = rolling_by_key(np.array(["a", "a", "b"]), np.array([0, 1000, 0]),
        ...                      {"2s": 2}, np.array([1.0, 3.0, 5.0]), include_current=False)
        >>> out["count_2s"].tolist(), out["mean_2s"].tolist()
        ([0.0, 1.0, 0.0], [nan, 1.0, nan])
    """
    import pandas as pd

    codes, _ = pd.factorize(pd.Series(keys), use_na_sentinel=True)
    valid = codes >= 0
    rows = np.flatnonzero(valid)
    order = rows[np.argsort(codes[rows], kind="stable")]
    gid = codes[order]
    t = segmented_cummax(gid, np.asarray(times_ms, dtype=np.int64)[order])
    v = None if values is None else np.asarray(values, dtype=np.float64)[order]
    wins = {name: round(s * 1000) for name, s in windows_s.items()}
    res = grouped_windows(gid, t, np.arange(order.shape[0]), list(wins.values()), v)
    n = len(keys)
    out: dict[str, np.ndarray] = {}
    for name, w in wins.items():
        cnt = res.count[w].astype(np.float64) - (0 if include_current else 1)
        out[f"count_{name}"] = _scatter(n, order, cnt)
        if v is not None:
            tot = res.total[w] - (0.0 if include_current else v)
            out[f"sum_{name}"] = _scatter(n, order, tot)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"mean_{name}"] = _scatter(n, order, np.where(cnt > 0, tot / cnt, np.nan))
    return out


def _scatter(n: int, order: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.full(n, np.nan)
    out[order] = values
    return out
