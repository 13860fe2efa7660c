"""C twins of feature kernels that numpy can only express with multi-key sorts.

* :func:`prev_same_c`: each row's previous row with the same (group, value), one
  pass over a hash table instead of ``lexsort((values, gid))``.
* :func:`windows_c`: window counts and amount sums per query row, walking back
  from the row instead of one ``searchsorted`` per window over the whole batch.
* :func:`distinct_c`: the distinct count in a window from each row's previous
  occurrence, one loop over the window instead of one numpy step per row back.
* :func:`seen_update_c`: a card's first-seen set update (the distinct (card, value)
  pairs with their latest time, ordered by card, time, value, the ``cap`` most
  recent per card) with a hash table and a per-card insertion sort instead of two
  three-key ``lexsort`` calls.

Both return None when they cannot run (no C compiler; inputs of other types), and
the callers then use their numpy versions, which define the results: the tests
compare the two on adversarial inputs. Compiled by :mod:`fraudstream.detect.native`.

Example:
    >>> out = prev_same_c(np.array([0, 0, 1, 0]), np.array([5, 6, 5, 5]))
    >>> out is None or out.tolist() == [-1, -1, -1, 0]
    True
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from fraudstream.detect.native import load_kernel, ptr

_SOURCE = r"""
#include <stdint.h>
#include <string.h>
static inline uint64_t mix(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
static inline uint64_t slot(int64_t g, int64_t v, uint64_t mask) {
    return mix((uint64_t)g * 0x9e3779b97f4a7c15ULL ^ (uint64_t)v) & mask;
}

/* table: cap slots (a power of two >= 2n) set to -1; maps (group, value) to the
   latest row seen with it (open addressing, linear probing). */
void fs_prev_same(const int64_t *gid, const int64_t *val, int64_t n, int64_t *table,
                  int64_t cap, int64_t *out) {
    uint64_t mask = (uint64_t)cap - 1;
    for (int64_t i = 0; i < n; i++) {
        uint64_t h = slot(gid[i], val[i], mask);
        for (;;) {
            int64_t j = table[h];
            if (j < 0) { out[i] = -1; table[h] = i; break; }
            if (gid[j] == gid[i] && val[j] == val[i]) { out[i] = j; table[h] = i; break; }
            h = (h + 1) & mask;
        }
    }
}

static inline int before(const int64_t *t, const int64_t *v, int64_t a, int64_t b) {
    return t[a] < t[b] || (t[a] == t[b] && v[a] < v[b]);
}

/* Rows with val != 0; groups in [0, n_groups). table as above (maps a pair to its
   index in best); best, sorted: n scratch; start: n_groups + 1 zeroed.
   Writes the kept pairs to og / ot / ov and returns how many. */
int64_t fs_seen_update(const int64_t *g, const int64_t *t, const int64_t *v, int64_t n,
                       int64_t n_groups, int64_t cap, int64_t *table, int64_t tcap,
                       int64_t *best, int64_t *sorted, int64_t *start,
                       int64_t *og, int64_t *ot, int64_t *ov) {
    uint64_t mask = (uint64_t)tcap - 1;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] == 0) continue;
        uint64_t h = slot(g[i], v[i], mask);
        for (;;) {
            int64_t k = table[h];
            if (k < 0) { table[h] = m; best[m++] = i; break; }
            int64_t j = best[k];
            if (g[j] == g[i] && v[j] == v[i]) { if (t[i] >= t[j]) best[k] = i; break; }
            h = (h + 1) & mask;
        }
    }
    /* Counting sort by group (start[q]: first slot of group q, used as a fill cursor
       and shifted back afterwards), then insertion sort by (time, value) in each. */
    for (int64_t k = 0; k < m; k++) start[g[best[k]] + 1]++;
    for (int64_t q = 0; q < n_groups; q++) start[q + 1] += start[q];
    for (int64_t k = 0; k < m; k++) sorted[start[g[best[k]]]++] = best[k];
    for (int64_t q = n_groups; q > 0; q--) start[q] = start[q - 1];
    start[0] = 0;
    int64_t w = 0;
    for (int64_t q = 0; q < n_groups; q++) {
        int64_t lo = start[q], hi = start[q + 1];
        for (int64_t a = lo + 1; a < hi; a++) {
            int64_t r = sorted[a], b = a - 1;
            while (b >= lo && before(t, v, r, sorted[b])) { sorted[b + 1] = sorted[b]; b--; }
            sorted[b + 1] = r;
        }
        int64_t from = hi - lo > cap ? hi - cap : lo;
        for (int64_t a = from; a < hi; a++) {
            int64_t r = sorted[a];
            og[w] = g[r]; ot[w] = t[r]; ov[w] = v[r]; w++;
        }
    }
    return w;
}

/* Window counts and sums ending at each query row (see keyed.window_block): rows
   grouped by gid, t non-decreasing in a group; csum[i] = sum of amount[:i] as
   np.cumsum gives it, so the sums are the numpy version's bit for bit. out: nq rows
   of nw counts then nw sums. */
void fs_windows(const int64_t *gid, const int64_t *t, const double *csum,
                const int64_t *q, int64_t nq, const int64_t *wins, int64_t nw,
                double *out) {
    for (int64_t k = 0; k < nq; k++) {
        int64_t r = q[k], lo = r;
        double *o = out + k * 2 * nw;
        for (int64_t w = 0; w < nw; w++) {  /* windows ascending: lo only moves back */
            int64_t edge = t[r] - wins[w];
            while (lo > 0 && gid[lo - 1] == gid[r] && t[lo - 1] > edge) lo--;
            o[w] = (double)(r - lo + 1);
            o[nw + w] = csum[r + 1] - csum[lo];
        }
    }
}

/* Per query k: how many rows j in [lo[k], q[k]] have prev[j] < lo[k] (the first of
   their value in the window), i.e. the distinct count (windows._distinct_in_window). */
void fs_distinct(const int64_t *prev, const int64_t *q, const int64_t *lo, int64_t nq,
                 int64_t *out) {
    for (int64_t k = 0; k < nq; k++) {
        int64_t c = 0;
        for (int64_t j = lo[k]; j <= q[k]; j++) c += prev[j] < lo[k];
        out[k] = c;
    }
}
"""
_P, _I64 = ctypes.c_void_p, ctypes.c_int64
_SIGNATURES: dict[str, tuple[list[Any], Any]] = {
    "fs_prev_same": ([_P, _P, _I64, _P, _I64, _P], None),
    "fs_seen_update": ([_P, _P, _P, _I64, _I64, _I64, _P, _I64, _P, _P, _P, _P, _P, _P], _I64),
    "fs_windows": ([_P, _P, _P, _P, _I64, _P, _I64, _P], None),
    "fs_distinct": ([_P, _P, _P, _I64, _P], None),
}
# Tests switch the C twins off here to exercise the numpy versions.
ENABLED = True


_LIB: list[ctypes.CDLL | None] = []  # loaded once: load_kernel hashes the source per call


def _lib() -> ctypes.CDLL | None:
    if not ENABLED:
        return None
    if not _LIB:
        _LIB.append(load_kernel("features", _SOURCE, _SIGNATURES))
    return _LIB[0]


def _table(n: int) -> np.ndarray:
    return np.full(1 << max(4, (2 * n - 1).bit_length()), -1, dtype=np.int64)


def _ints(a: np.ndarray) -> bool:
    return a.dtype.kind in "iu"


def prev_same_c(gid: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """Index of the previous row with the same (group, value), or -1; None: use numpy."""
    lib = _lib()
    n = gid.shape[0]
    if lib is None or n == 0 or values.dtype != np.int64 or not _ints(gid):
        return None
    g = np.ascontiguousarray(gid, dtype=np.int64)
    v = np.ascontiguousarray(values)
    table = _table(n)
    out = np.empty(n, dtype=np.int64)
    lib.fs_prev_same(ptr(g), ptr(v), n, ptr(table), table.shape[0], ptr(out))
    return out


def seen_update_c(
    gid: np.ndarray, t: np.ndarray, val: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """See :func:`fraudstream.features.online_card._seen_update`; None: use numpy."""
    lib = _lib()
    n = gid.shape[0]
    if lib is None or n == 0 or not (_ints(gid) and t.dtype == val.dtype == np.int64):
        return None
    g = np.ascontiguousarray(gid, dtype=np.int64)
    if int(g.min()) < 0:
        return None
    n_groups = int(g.max()) + 1
    tt, v = np.ascontiguousarray(t), np.ascontiguousarray(val)
    table = _table(n)
    best, order = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    start = np.zeros(n_groups + 1, dtype=np.int64)
    og, ot, ov = (np.empty(n, dtype=np.int64) for _ in range(3))
    w = lib.fs_seen_update(ptr(g), ptr(tt), ptr(v), n, n_groups, cap, ptr(table),
                           table.shape[0], ptr(best), ptr(order), ptr(start), ptr(og),
                           ptr(ot), ptr(ov))  # fmt: skip
    return og[:w], ot[:w], ov[:w]


def windows_c(
    gid: np.ndarray, t: np.ndarray, amount: np.ndarray, q: np.ndarray, windows_ms: tuple[int, ...]
) -> np.ndarray | None:
    """See :func:`fraudstream.features.keyed.window_block`; None: use numpy."""
    lib = _lib()
    n, nq = gid.shape[0], q.shape[0]
    if (
        lib is None
        or n == 0
        or not (_ints(gid) and _ints(q) and t.dtype == np.int64 and amount.dtype == np.float64)
        or list(windows_ms) != sorted(windows_ms)  # the kernel moves each lo back only
    ):
        return None
    wins = np.asarray(windows_ms, dtype=np.int64)
    g = np.ascontiguousarray(gid, dtype=np.int64)
    tt = np.ascontiguousarray(t)
    qq = np.ascontiguousarray(q, dtype=np.int64)
    csum = np.concatenate(([0.0], np.cumsum(amount)))
    out = np.empty((nq, 2 * wins.shape[0]), dtype=np.float64)
    lib.fs_windows(ptr(g), ptr(tt), ptr(csum), ptr(qq), nq, ptr(wins), wins.shape[0], ptr(out))
    return out


def distinct_c(prev: np.ndarray, q: np.ndarray, lo: np.ndarray) -> np.ndarray | None:
    """Per query, rows in ``[lo, q]`` whose ``prev`` is before ``lo``; None: use numpy."""
    lib = _lib()
    nq = q.shape[0]
    if lib is None or nq == 0 or not (_ints(prev) and _ints(q) and _ints(lo)):
        return None
    p, qq, ll = (np.ascontiguousarray(a, dtype=np.int64) for a in (prev, q, lo))
    out = np.empty(nq, dtype=np.int64)
    lib.fs_distinct(ptr(p), ptr(qq), ptr(ll), nq, ptr(out))
    return out
