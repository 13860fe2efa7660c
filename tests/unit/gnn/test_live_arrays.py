"""The array-based live graph against a plain dict reference (the first implementation)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from fraudstream.detect.gnn.live import LINKS, LiveGraph, LiveGraphConfig
from fraudstream.detect.gnn.live_ops import merge_rows
from fraudstream.detect.gnn.signal import GraphSignal
from fraudstream.events.batch import TransactionBatch


class RefGraph:
    """Dicts of neighbour -> time in insertion (= recency) order; one link at a time."""

    def __init__(self, cap: int, ttl_ms: int, cold_ms: int) -> None:
        self.cap, self.ttl_ms, self.cold_ms = cap, ttl_ms, cold_ms
        self.nbrs: dict[str, dict[str, int]] = {}
        self.last: dict[str, int] = {}
        self.now = 0

    def update(self, recs: list[dict[str, Any]]) -> None:
        for r in recs:
            t = int(r["event_time"])
            self.now = max(self.now, t)
            card = f"card:{r['card_id']}"
            touched = [card]
            for fld, ntype in LINKS:
                if r.get(fld):
                    other = f"{ntype}:{r[fld]}"
                    for u, v in ((card, other), (other, card)):
                        d = self.nbrs.setdefault(u, {})
                        d.pop(v, None)
                        d[v] = t
                        if len(d) > self.cap:
                            del d[next(iter(d))]
                    touched.append(other)
            for k in touched:
                self.nbrs.setdefault(k, {})
                self.last[k] = max(self.last.get(k, 0), t)

    def evict(self) -> None:
        dead = [k for k, t in self.last.items() if t < self.now - self.cold_ms]
        for k in dead:
            del self.nbrs[k], self.last[k]
        for d in self.nbrs.values():
            for k in [k for k, t in d.items() if t < self.now - self.ttl_ms or k not in self.nbrs]:
                del d[k]

    def sample(
        self, seeds: list[str], hops: int, fanout: int | list[int]
    ) -> tuple[list[str], np.ndarray]:
        fanouts = [fanout] * hops if isinstance(fanout, int) else fanout
        index = {s: i for i, s in enumerate(dict.fromkeys(seeds))}
        frontier, src, dst = list(index), [], []
        for hop in range(hops):
            nxt = []
            for key in frontier:
                for nk, t in list(self.nbrs.get(key, {}).items())[-fanouts[hop] :]:
                    if t < self.now - self.ttl_ms:
                        continue
                    if nk not in index:
                        index[nk] = len(index)
                        nxt.append(nk)
                    src.append(index[nk])
                    dst.append(index[key])
            frontier = nxt
        return list(index), np.array([src + dst, dst + src], dtype=np.int64).reshape(2, -1)


def _stream(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):  # whole seconds: link times are kept to the second
        r: dict[str, Any] = {"card_id": f"c{rng.randrange(25)}", "event_time": i * 60_000}
        r["amount"] = rng.random() * 100
        for fld, size in (("merchant_id", 6), ("device_id", 15), ("ip_address", 10)):
            if rng.random() < 0.8:
                r[fld] = f"{fld[0]}{rng.randrange(size)}"
        if rng.random() < 0.2:
            r["counterparty_account_id"] = f"a{rng.randrange(20)}"
        out.append(r)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_and_samples_match_the_reference(seed: int) -> None:
    cfg = LiveGraphConfig(max_neighbours=4, edge_ttl_s=3_600, cold_after_s=5_400)
    g, ref = LiveGraph(cfg, capacity=16), RefGraph(4, 3_600_000, 5_400_000)
    recs = _stream(seed, 400)
    rng = random.Random(seed)
    i = 0
    while i < len(recs):
        step = rng.randrange(1, 40)
        g.update(recs[i : i + step])
        ref.update(recs[i : i + step])
        i += step
        if rng.random() < 0.3:
            g.evict()
            ref.evict()
        assert {k: g.neighbours(k) for k in g.nodes} == {k: list(d) for k, d in ref.nbrs.items()}
        seeds = [f"card:c{rng.randrange(30)}" for _ in range(6)]  # some never seen
        fanouts: tuple[tuple[int, int | list[int]], ...] = ((1, 2), (2, 3), (3, 2), (2, [3, 1]))
        for hops, fanout in fanouts:
            keys, ei = g.sample(seeds, hops=hops, fanout=fanout)
            rkeys, rei = ref.sample(seeds, hops, fanout)
            assert keys == rkeys
            np.testing.assert_array_equal(ei, rei)


def test_merge_rows_keeps_the_last_distinct_neighbours() -> None:
    nbr = np.full((2, 3), -1, np.int32)
    nbr_t, deg = np.zeros((2, 3), np.int32), np.zeros(2, np.int32)
    merge_rows(nbr, nbr_t, deg, np.zeros(5, np.int64), np.array([5, 6, 7, 8, 6]), np.arange(5))
    assert nbr[0].tolist() == [7, 8, 6] and nbr_t[0].tolist() == [2, 3, 4] and deg[0] == 3
    merge_rows(nbr, nbr_t, deg, np.array([0, 1]), np.array([7, 9]), np.array([10, 11]))
    assert nbr[0].tolist() == [8, 6, 7] and nbr[1].tolist() == [9, -1, -1]


def test_features_are_kept_up_to_date_and_slots_reused() -> None:
    g = LiveGraph(LiveGraphConfig(cold_after_s=60, edge_ttl_s=60), capacity=16)
    g.update([{"card_id": "a", "merchant_id": "m", "amount": 9.0, "event_time": 0}])
    g.update([{"card_id": "a", "merchant_id": "m", "amount": 19.0, "event_time": 1000}])
    f = g.node_features(["card:a"])[0]
    assert f[0] == 1 and f[6] == pytest.approx(np.log1p(2)) and f[7] == pytest.approx(np.log1p(14))
    assert f[8] == pytest.approx(np.log1p(1))
    freed = {g.slot("card:a"), g.slot("merchant:m")}
    g.update([{"card_id": "b", "device_id": "d", "event_time": 3_600_000}])
    assert g.evict() == 2 and g.slot("card:a") == -1 and g.num_nodes == 2
    g.update([{"card_id": "z", "event_time": 3_600_000}])
    assert g.slot("card:z") in freed
    assert g.node_features(["card:z"])[0, 6:].tolist() == pytest.approx([np.log1p(1), 0, 0])


def test_capacity_grows_and_batch_reasons_match_per_record_reasons() -> None:
    sig = GraphSignal(model=None, graph=LiveGraph(capacity=16))
    recs = _stream(5, 300)
    for i in range(0, 300, 50):
        sig(TransactionBatch(recs[i : i + 50]))
        sig.feedback([f"c{j}" for j in range(0, 25, 3)], recs[i]["event_time"])
    assert sig.graph.x.shape[0] >= sig.graph.num_nodes > 16
    batch = TransactionBatch(_stream(6, 60))
    cards, linked = sig.graph.ingest(batch.records, batch.col("event_time"))
    now = sig.graph.now_ms
    fast = sig.batch_reasons(cards, linked, now)
    assert fast == [sig.reasons(r, now) for r in batch.records]
    assert any(r for r in fast)


def test_seed_forward_equals_full_forward_on_the_sampled_subgraph() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    from fraudstream.detect.gnn.live_model import seed_logits
    from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier

    g = LiveGraph(LiveGraphConfig(max_neighbours=6))
    g.update(_stream(3, 500))
    torch.manual_seed(0)
    model = FraudNodeClassifier(9, hidden_channels=8, num_layers=2).eval()
    seeds = np.array([g.slot(f"card:c{i}") for i in range(0, 25, 2)])
    nodes, ei, ends = g.sample_slots(seeds, hops=2, fanout=4)
    assert ends[0] == seeds.size < ends[1] < ends[2] == nodes.size
    with torch.inference_mode():
        full = model(torch.from_numpy(g.x[nodes]), torch.from_numpy(ei))[: seeds.size]
        fast = seed_logits(model, g.x[nodes], ei, ends)
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)
    assert full.std() > 0  # the check compares something


def _row_edges(g: LiveGraph, fanout: int) -> tuple[np.ndarray, np.ndarray]:
    """All slots and the edges (neighbour -> owner) of every node's recent row."""
    slots = np.arange(g.x.shape[0])
    nb, ok = g.recent(slots, fanout)
    owner = np.broadcast_to(slots[:, None], ok.shape)[ok]
    return slots, np.stack([nb[ok], owner]).astype(np.int64)


def test_row_forward_equals_full_forward_over_the_recent_rows() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    from fraudstream.detect.gnn.live_model import EncoderCache, row_logits
    from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier

    g = LiveGraph(LiveGraphConfig(max_neighbours=6))
    g.update(_stream(4, 500))
    torch.manual_seed(0)
    model = FraudNodeClassifier(9, hidden_channels=8, num_layers=2).eval()
    seeds = np.array([g.slot(f"card:c{i}") for i in range(0, 25, 3)] + [-1])
    cache = EncoderCache(model)
    with torch.inference_mode():
        fast = row_logits(model, cache, g, seeds, [4, 4])
        _, ei = _row_edges(g, 4)
        full = model(torch.from_numpy(g.x), torch.from_numpy(ei))
        unknown = model(torch.zeros((1, 9)), torch.zeros((2, 0), dtype=torch.long))
    torch.testing.assert_close(fast[:-1], full[seeds[:-1]], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast[-1:], unknown, atol=1e-5, rtol=1e-5)
    assert full.std() > 0


def test_encoder_cache_refreshes_exactly_the_changed_rows() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    from fraudstream.detect.gnn.live_model import EncoderCache
    from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier

    g = LiveGraph(LiveGraphConfig(max_neighbours=6, cold_after_s=3600, evict_every=100))
    stream = _stream(5, 600)
    g.update(stream[:300])
    model = FraudNodeClassifier(9, hidden_channels=8, num_layers=2).eval()
    cache = EncoderCache(model)
    everything = np.arange(g.x.shape[0])
    with torch.inference_mode():
        cache.rows(g, everything)
        first = cache.encoded
        g.update(stream[300:310])  # a few events: a few rows change
        h = cache.rows(g, everything)
        assert 0 < cache.encoded - first < 40
        g.update(stream[310:])  # evictions (cold nodes) included
        h = cache.rows(g, np.arange(g.x.shape[0]))
        ref = torch.relu(model.enc2(torch.relu(model.enc1(torch.from_numpy(g.x)))))
    torch.testing.assert_close(h[: g.x.shape[0]], ref, atol=1e-6, rtol=1e-6)


def test_graph_signal_fast_and_exact_paths_agree_on_ranking() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    from fraudstream.detect.gnn.node_classifier import FraudNodeClassifier

    torch.manual_seed(1)
    model = FraudNodeClassifier(9, hidden_channels=8, num_layers=2).eval()
    g = LiveGraph(LiveGraphConfig(max_neighbours=8))
    fast = GraphSignal(model, g, fanout=8, torch_threads=None)
    exact = GraphSignal(model, g, fanout=8, torch_threads=None, exact=True)
    stream = _stream(6, 400)
    g.update(stream[:300])
    cards, _ = g.ingest(stream[300:])
    a, b = fast.score_slots(cards), exact.score_slots(cards)
    assert a.shape == b.shape == (100,) and ((a > 0) & (a < 1)).all()
    assert np.corrcoef(a, b)[0, 1] > 0.9
