"""Vectorised kernels of the live graph: neighbour-row merge and k-hop sampling.

The live graph keeps, per node slot, a row of at most ``cap`` neighbour slots in
recency order (left-aligned: position 0 is the least recent, ``deg - 1`` the most
recent; ``-1`` pads). Both kernels work on a whole batch with numpy, so their cost
does not grow with Python-level work per link.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def merge_rows(
    nbr: np.ndarray,
    nbr_t: np.ndarray,
    deg: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    t: np.ndarray,
) -> np.ndarray:
    """Add directed links ``u[k] -> v[k]`` (in that order, time ``t[k]``) to the rows.

    Same result as adding them one by one to an LRU of size ``cap`` per owner: a
    neighbour seen again moves to the most recent end (with the new time), and
    the least recent neighbour falls out once the row is full. Every link of the
    batch is more recent than every stored neighbour, so a row becomes: the stored
    neighbours not seen again (in order), then the batch's distinct neighbours in
    order of their last link, of which the last ``cap`` are kept.

    Returns:
        The distinct owners whose rows changed (sorted slots).

    Example:
        >>> nbr = np.full((3, 2), -1, np.int32); nbr_t = np.zeros((3, 2), np.int32)
        >>> deg = np.zeros(3, np.int32)
        >>> _ = merge_rows(nbr, nbr_t, deg, np.array([0, 0, 0, 0]), np.array([1, 2, 1, 2]),
        ...                np.arange(4))
        >>> nbr[0].tolist(), nbr_t[0].tolist(), int(deg[0])
        ([1, 2], [2, 3], 2)
    """
    cap = nbr.shape[1]
    if u.size == 0:
        return np.zeros(0, np.int64)
    u, v = u.astype(np.int64), v.astype(np.int64)
    # The batch's links, a repeated (owner, neighbour) kept at its last occurrence.
    rev = ((u << 32) | v)[::-1]
    _, first_rev = np.unique(rev, return_index=True)
    last = np.sort(u.size - 1 - first_rev)
    u, v, t = u[last], v[last], t[last]
    owners, o_new = np.unique(u, return_inverse=True)
    rows, rows_t = nbr[owners], nbr_t[owners]
    pos = np.arange(cap)
    valid = pos[None, :] < deg[owners][:, None]
    # Stored neighbours seen again leave their place (they move to the recent end).
    hit_row, hit_col = np.nonzero(rows[o_new] == v[:, None])
    stay = valid.copy()
    stay[o_new[hit_row], hit_col] = False
    n_stay = stay.sum(axis=1)
    n_new = np.bincount(o_new, minlength=owners.size)
    drop = np.maximum(n_stay + n_new - cap, 0)
    out = np.full(rows.shape, -1, np.int32)
    out_t = np.zeros(rows.shape, rows_t.dtype)
    p_old = np.cumsum(stay, axis=1) - 1 - drop[:, None]
    keep = stay & (p_old >= 0)
    r_old = np.nonzero(keep)[0]
    out[r_old, p_old[keep]] = rows[keep]
    out_t[r_old, p_old[keep]] = rows_t[keep]
    # New links after the survivors, in batch order per owner.
    order = np.argsort(o_new, kind="stable")
    o_s = o_new[order]
    rank = np.arange(o_s.size) - (np.cumsum(n_new) - n_new)[o_s]
    p_new = n_stay[o_s] + rank - drop[o_s]
    ok = p_new >= 0
    out[o_s[ok], p_new[ok]] = v[order][ok]
    out_t[o_s[ok], p_new[ok]] = t[order][ok]
    nbr[owners] = out
    nbr_t[owners] = out_t
    deg[owners] = np.minimum(n_stay + n_new, cap)
    return owners


def sample_khop(
    nbr: np.ndarray,
    nbr_t: np.ndarray,
    deg: np.ndarray,
    local: np.ndarray,
    seeds: np.ndarray,
    hops: int,
    fanout: int | Sequence[int],
    min_t: int,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The ``hops``-hop neighbourhood of ``seeds`` (distinct slots; ``-1``: no node).

    Per node, at most its ``fanout`` most recent neighbours with a link time of at
    least ``min_t`` (``fanout`` per hop when a sequence, like PyG's
    ``num_neighbors``). ``local`` is a scratch array of ``-1`` over all slots (left
    as it was found). Nodes are numbered seeds first, then in order of discovery,
    exactly as a breadth-first walk over the rows would number them.

    Returns:
        slots of the subgraph's nodes (seeds first; ``-1`` kept for unknown seeds),
        the int64 ``edge_index [2, E]`` over their positions, both directions, and
        ``ends``: ``ends[k]`` nodes lie within ``k`` hops (``ends[0]`` = seeds).
    """
    cap = nbr.shape[1]
    nodes = [seeds]
    known = seeds >= 0
    local[seeds[known]] = np.nonzero(known)[0]
    count = seeds.size
    ends = [count]
    frontier = seeds[known]
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    fanouts = [fanout] * hops if isinstance(fanout, int) else list(fanout)
    if len(fanouts) < hops:
        raise ValueError(f"{len(fanouts)} fanouts for {hops} hops")
    try:
        for hop in range(hops):
            if frontier.size == 0:
                break
            steps = np.arange(fanouts[hop])
            d = deg[frontier].astype(np.int64)
            cols = np.maximum(d - steps.size, 0)[:, None] + steps[None, :]
            ok = cols < d[:, None]
            cols = np.minimum(cols, cap - 1)
            nb = nbr[frontier[:, None], cols]
            ok &= nbr_t[frontier[:, None], cols] >= min_t
            nb = nb[ok].astype(np.int64)
            owner = np.broadcast_to(local[frontier][:, None], ok.shape)[ok]
            fresh = nb[local[nb] < 0]
            # First occurrences without a sort: each slot keeps the largest mark -2 - i,
            # that of its first index i.
            rank = -2 - np.arange(fresh.size)
            local[fresh] = np.iinfo(np.int64).min
            np.maximum.at(local, fresh, rank)
            new = fresh[local[fresh] == rank]
            local[new] = count + np.arange(new.size)
            count += new.size
            ends.append(count)
            nodes.append(new)
            src.append(local[nb])
            dst.append(owner)
            frontier = new
        all_nodes = np.concatenate(nodes)
    finally:
        for part in nodes:
            local[part[part >= 0]] = -1
    s = np.concatenate(src) if src else np.zeros(0, np.int64)
    t = np.concatenate(dst) if dst else np.zeros(0, np.int64)
    ei = np.stack([np.concatenate([s, t]), np.concatenate([t, s])]).astype(np.int64)
    ends += [count] * (hops + 1 - len(ends))
    return all_nodes, ei, ends
