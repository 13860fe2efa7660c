"""The shared window kernels against naive loops (both feature paths use them, so the
online == offline tests alone would not catch a kernel that is wrong the same way twice)."""

from __future__ import annotations

import numpy as np
import pytest

from fraudstream.features import native
from fraudstream.features.keyed import WINDOWS_MS, window_block, window_block_sorted
from fraudstream.features.native import seen_update_c
from fraudstream.features.online_card import seen_update_sorted
from fraudstream.features.windows import (
    distinct_from_prev,
    grouped_windows,
    prev_same,
    prev_same_sorted,
)


def naive_prev_same(gid: np.ndarray, values: np.ndarray) -> list[int]:
    last: dict[tuple[int, object], int] = {}
    out = []
    for i, key in enumerate(zip(gid.tolist(), values.tolist(), strict=True)):
        out.append(last.get(key, -1))
        last[key] = i
    return out


def stream(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gid = np.sort(rng.integers(0, 25, size=n))
    t = np.zeros(n, dtype=np.int64)
    for g in np.unique(gid):  # monotone time within each group, with ties
        rows = np.flatnonzero(gid == g)
        t[rows] = np.cumsum(rng.choice([0, 200, 700, 5_000], size=rows.size))
    pool = rng.integers(-(2**63), 2**63 - 1, size=12, dtype=np.int64)
    # Two values sharing their low 32 bits (a weak hash would mix them up).
    pool[1] = (pool[0] & np.int64(0xFFFFFFFF)) | (np.int64(7) << np.int64(40))
    values = rng.choice(pool, size=n)
    values[rng.random(n) < 0.1] = 0
    return gid, t, values


@pytest.mark.parametrize("seed", range(6))
def test_prev_same_matches_a_loop(seed: int) -> None:
    gid, _, values = stream(seed)
    assert prev_same(gid, values).tolist() == naive_prev_same(gid, values)
    # unsorted groups, and a float column (the lexsort path)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(gid.shape[0])
    assert prev_same(gid[perm], values[perm]).tolist() == naive_prev_same(gid[perm], values[perm])
    fv = values.astype(np.float64)
    assert prev_same(gid, fv).tolist() == naive_prev_same(gid, fv)
    assert prev_same_sorted(gid, values).tolist() == naive_prev_same(gid, values)


@pytest.mark.parametrize("seed", range(6))
def test_distinct_in_window_matches_a_loop(seed: int) -> None:
    gid, t, values = stream(seed)
    q = np.arange(gid.shape[0])
    w = 1_000
    got = grouped_windows(gid, t, q, [w], distinct={"v": (w, values)}).distinct["v"]
    want = []
    for i in q:
        rows = (gid == gid[i]) & (t > t[i] - w) & (np.arange(gid.shape[0]) <= i)
        want.append(len(set(values[rows].tolist())))
    assert got.tolist() == want


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("cap", [1, 3, 32])
def test_seen_update_c_equals_the_numpy_version(seed: int, cap: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 600))
    gid = rng.integers(0, 30, size=n)  # any order, as history rows then batch rows
    t = rng.choice(np.array([0, 5, 5, 9, 10**12, -3]), size=n).astype(np.int64)  # ties
    pool = rng.integers(-(2**63), 2**63 - 1, size=int(rng.integers(1, 40)), dtype=np.int64)
    val = rng.choice(np.concatenate((pool, [0])), size=n)
    got = seen_update_c(gid, t, val, cap)
    want = seen_update_sorted(gid, t, val, cap)
    if got is None:
        pytest.skip("no C compiler here")
    for a, b in zip(got, want, strict=True):
        assert a.tolist() == b.tolist()


def test_the_numpy_fallbacks_run_without_the_c_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    gid, _, values = stream(0)
    with_c = prev_same(gid, values)
    monkeypatch.setattr(native, "ENABLED", False)
    assert native.prev_same_c(gid, values) is None
    assert prev_same(gid, values).tolist() == with_c.tolist() == naive_prev_same(gid, values)


@pytest.mark.parametrize("seed", range(6))
def test_window_block_c_equals_the_numpy_version_and_a_loop(seed: int) -> None:
    gid, t, _ = stream(seed, n=int(np.random.default_rng(seed).integers(1, 500)))
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 2.0, size=gid.shape[0])
    q = np.sort(rng.choice(gid.shape[0], size=max(1, gid.shape[0] // 3), replace=False))
    wins = (600, 5_000, 20_000)  # short enough that the stream's gaps cross them
    got = native.windows_c(gid, t, amount, q, wins)
    if got is None:
        pytest.skip("no C compiler here")
    res = grouped_windows(gid, t, q, wins, amount)
    want = np.column_stack(
        [res.count[w].astype(np.float64) for w in wins] + [res.total[w] for w in wins]
    )
    assert np.array_equal(got, want)  # bit for bit, sums included
    for k, i in enumerate(q.tolist()):
        for j, w in enumerate(wins):
            rows = (gid == gid[i]) & (t > t[i] - w) & (np.arange(gid.shape[0]) <= i)
            assert got[k, j] == rows.sum()
            assert got[k, 3 + j] == pytest.approx(amount[rows].sum())
    assert np.array_equal(window_block(gid, t, amount, q), window_block_sorted(gid, t, amount, q))


def test_window_block_falls_back_without_the_c_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    gid, t, _ = stream(1)
    amount = np.arange(gid.shape[0], dtype=np.float64)
    q = np.arange(gid.shape[0])
    with_c = window_block(gid, t, amount, q)
    monkeypatch.setattr(native, "ENABLED", False)
    assert native.windows_c(gid, t, amount, q, WINDOWS_MS) is None
    assert np.array_equal(window_block(gid, t, amount, q), with_c)


@pytest.mark.parametrize("seed", range(6))
def test_distinct_c_equals_the_numpy_version(seed: int) -> None:
    gid, t, values = stream(seed)
    rng = np.random.default_rng(seed)
    q = np.sort(rng.choice(gid.shape[0], size=gid.shape[0] // 2, replace=False))
    lo = np.searchsorted(gid * 10**9 + t, gid[q] * 10**9 + t[q] - 1_500, side="right")
    prev = prev_same(gid, values)
    got = native.distinct_c(prev, q, lo)
    if got is None:
        pytest.skip("no C compiler here")
    assert got.tolist() == distinct_from_prev(prev, q, lo).tolist()
