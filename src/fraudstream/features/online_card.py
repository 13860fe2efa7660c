"""The card's online state: windows, all-time amount statistics and first-seen sets.

Split from :mod:`fraudstream.features.online` (which documents the layout) because
the card carries more than a window: the running count / sum / sum of squares of
its amounts (for the z-score), and the devices and countries it has used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fraudstream.detect.base import KeyValueStore
from fraudstream.events.batch import TransactionBatch
from fraudstream.features.contract import CARD_HISTORY_FEATURES, FEATURE_INDEX
from fraudstream.features.keyed import (
    card_history_block,
    first_seen,
    rank_in_group,
    running_sums,
    window_block,
)
from fraudstream.features.native import seen_update_c
from fraudstream.features.state import (
    CARD,
    EMPTY_CARD,
    STATE_PREFIX,
    group_keys,
    ranges,
    read_groups,
    store_keys,
    tail_mask,
    write_groups,
)
from fraudstream.features.stateless import hash_column
from fraudstream.features.windows import group_starts, run_ends, segmented_cummax

if TYPE_CHECKING:
    from fraudstream.features.online import OnlineFeatures

_PREFIX = f"{STATE_PREFIX}card/"


def _seen_update(
    gid: np.ndarray, t: np.ndarray, val: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (group, value) with their last-seen time, the ``cap`` most recent per group.

    Ordered by group, time, value; value 0 (missing) is skipped. The C twin
    (:func:`~fraudstream.features.native.seen_update_c`) gives the same arrays.
    """
    fast = seen_update_c(gid, t, val, cap)
    if fast is not None:
        return fast
    return seen_update_sorted(gid, t, val, cap)


def seen_update_sorted(
    gid: np.ndarray, t: np.ndarray, val: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_seen_update` with numpy sorts only (the fallback, and the tests' reference)."""
    m = val != 0
    g, tt, v = gid[m], t[m], val[m]
    o = np.lexsort((tt, v, g))
    g, tt, v = g[o], tt[o], v[o]
    last = run_ends(g) | run_ends(v)
    g, tt, v = g[last], tt[last], v[last]
    o = np.lexsort((v, tt, g))
    g, tt, v = g[o], tt[o], v[o]
    if g.size:
        keep = tail_mask(g, np.zeros_like(tt), 1, cap)
        g, tt, v = g[keep], tt[keep], v[keep]
    return g, tt, v


def _rank_sorted(gid: np.ndarray) -> np.ndarray:
    """0, 1, 2... within each run of a sorted ``gid``."""
    return np.arange(gid.shape[0]) - group_starts(gid)


def _first_seen_rows(
    n_groups: int,
    hist_counts: np.ndarray,
    hist_vals: np.ndarray,
    bgid: np.ndarray,
    bvals: np.ndarray,
) -> np.ndarray:
    """Per batch row: is its value new for its card (not in the history set nor earlier rows)."""
    gid = np.concatenate((np.repeat(np.arange(n_groups), hist_counts), bgid))
    vals = np.concatenate((hist_vals, bvals))
    order = np.argsort(gid, kind="stable")
    flags = np.empty(gid.shape[0], dtype=bool)
    flags[order] = first_seen(gid[order], vals[order])
    return flags[hist_vals.shape[0] :]


def card_update(
    f: OnlineFeatures, batch: TransactionBatch, store: KeyValueStore, out: np.ndarray, col: int
) -> None:
    """Fill the card window block at ``col`` and the card history block; update card state."""
    rows, bgid, uniq = group_keys(batch.col("card_id"))
    if rows.size == 0:
        return
    n_groups = len(uniq)
    skeys = store_keys(_PREFIX, uniq)
    blobs = read_groups(store, skeys, EMPTY_CARD)
    arr = np.frombuffer(b"".join(blobs), dtype=CARD)
    blen = np.fromiter(map(len, blobs), dtype=np.int64, count=n_groups) // CARD.itemsize
    off = np.cumsum(blen) - blen
    h0, h1 = arr[off], arr[off + 1]
    n_ev, n_dev, n_cty = h0["t"], h0["a"], h0["b"]
    ev = arr[ranges(off + 2, n_ev)]
    dv = arr[ranges(off + 2 + n_ev, n_dev)]
    ct = arr[ranges(off + 2 + n_ev + n_dev, n_cty)]

    b_m = hash_column(batch.col("merchant_id")[rows])
    b_c = hash_column(batch.col("merchant_country")[rows])
    b_d = hash_column(batch.col("device_id")[rows])
    n_hist = ev.shape[0]
    gid = np.concatenate((np.repeat(np.arange(n_groups), n_ev), bgid))
    order = np.argsort(gid, kind="stable")
    gid = gid[order]
    t = segmented_cummax(gid, np.concatenate((ev["t"], batch.col("event_time")[rows]))[order])
    amount = np.concatenate((ev["amount"], batch.col("amount")[rows]))[order]
    merchant = np.concatenate((ev["a"], b_m))[order]
    country = np.concatenate((ev["b"], b_c))[order]
    is_b = order >= n_hist
    q = np.flatnonzero(is_b)
    brow = order[q] - n_hist  # index into `rows` of each query row
    target = rows[brow]
    out[target, col : col + 6] = window_block(gid, t, amount, q)

    # Strictly-earlier all-time statistics: the stored totals plus earlier batch rows,
    # summed strictly in event order so the state bytes do not depend on batching.
    b_amt = batch.col("amount")[rows]
    (prior_s, prior_ss), (tot_s, tot_ss) = running_sums(
        bgid, (b_amt, b_amt * b_amt), (h0["amount"], h1["amount"])
    )
    bcnt_before = rank_in_group(bgid)
    prior = (
        (h1["t"][bgid] + bcnt_before)[brow].astype(np.float64),
        prior_s[brow],
        prior_ss[brow],
    )
    new_dev = _first_seen_rows(n_groups, n_dev, dv["a"], bgid, b_d)[brow]
    new_cty = _first_seen_rows(n_groups, n_cty, ct["a"], bgid, b_c)[brow]
    hist_block = card_history_block(gid, t, amount, merchant, country, q, prior, new_dev, new_cty)
    out[target, FEATURE_INDEX[CARD_HISTORY_FEATURES[0]] :] = hist_block

    # New state.
    t_b = np.empty(rows.shape[0], dtype=np.int64)
    t_b[brow] = t[q]
    keep = tail_mask(gid, t, f.keep_ms, f.max_events)
    dg, dt, dvv = _seen_update(
        np.concatenate((np.repeat(np.arange(n_groups), n_dev), bgid)),
        np.concatenate((dv["t"], t_b)),
        np.concatenate((dv["a"], b_d)),
        f.max_seen,
    )
    cg, ctt, cvv = _seen_update(
        np.concatenate((np.repeat(np.arange(n_groups), n_cty), bgid)),
        np.concatenate((ct["t"], t_b)),
        np.concatenate((ct["a"], b_c)),
        f.max_seen,
    )
    ev_count = np.bincount(gid[keep], minlength=n_groups)
    dev_count = np.bincount(dg, minlength=n_groups)
    cty_count = np.bincount(cg, minlength=n_groups)
    counts = 2 + ev_count + dev_count + cty_count
    # Each record goes straight to its place: key by key, the two headers, the events,
    # the devices, the countries (each section already sorted by key, in order).
    start = np.cumsum(counts) - counts
    recs = np.zeros(int(counts.sum()), dtype=CARD)
    head, head2 = recs[start], recs[start + 1]
    head["t"], head["amount"], head["a"], head["b"] = ev_count, tot_s, dev_count, cty_count
    head2["t"], head2["amount"] = h1["t"] + np.bincount(bgid, minlength=n_groups), tot_ss
    recs[start], recs[start + 1] = head, head2
    eg = gid[keep]
    at = start[eg] + 2 + _rank_sorted(eg)
    recs["t"][at], recs["amount"][at], recs["a"][at], recs["b"][at] = (
        t[keep], amount[keep], merchant[keep], country[keep]
    )  # fmt: skip
    at = start[dg] + 2 + ev_count[dg] + _rank_sorted(dg)
    recs["t"][at], recs["a"][at] = dt, dvv
    at = start[cg] + 2 + ev_count[cg] + dev_count[cg] + _rank_sorted(cg)
    recs["t"][at], recs["a"][at] = ctt, cvv
    write_groups(store, skeys, recs.tobytes(), counts, CARD.itemsize)
