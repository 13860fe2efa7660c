"""The typed ring graph, the heterogeneous ring model and the logit stacker."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from fraudstream.detect.gnn.hetero import RingHeteroSAGE, TorchSample, predict  # noqa: E402
from fraudstream.detect.gnn.ring_graph import (  # noqa: E402
    NODE_DIM,
    RELATIONS,
    RingGraph,
    RingGraphConfig,
)
from fraudstream.detect.gnn.ring_training import (  # noqa: E402
    LogitStacker,
    RingTrainConfig,
    fit_ring_model,
    stream_samples,
)
from fraudstream.errors import ValidationError  # noqa: E402

HOUR = 3_600_000
_USES = 4 + 3 * RELATIONS.index("uses")  # first of the device-relation counts


def _tx(card: str, t: int, **kw: object) -> dict[str, object]:
    return {"card_id": card, "event_time": t, "amount": 20.0, "channel": "ECOM", **kw}


def test_device_counts_distinct_cards_all_day_and_hour() -> None:
    g = RingGraph()
    g.update([_tx("a", 0, device_id="d"), _tx("b", 20 * HOUR, device_id="d")])
    g.update([_tx("c", int(23.5 * HOUR), device_id="d"), _tx("c", 24 * HOUR + 1, device_id="d")])
    f = g.features("device:d")
    # 3 distinct cards kept, 2 within 24 h of the last event (b, c), 1 within the hour (c).
    assert f[_USES : _USES + 3].tolist() == pytest.approx(
        [math.log1p(3), math.log1p(2), math.log1p(1)]
    )
    assert f[0] == pytest.approx(math.log1p(4))
    assert g.features("device:unknown").tolist() == [0.0] * NODE_DIM


def test_sample_is_causal_and_marks_empty_fields() -> None:
    g = RingGraph()
    s1 = g.update_and_sample([_tx("a", 0, device_id="d"), _tx("b", 1)])
    assert s1.endpoints["device_id"].tolist() == [0, -1]
    dev_before = s1.x["device"][0].copy()
    # A later batch changes the graph, never the sample already taken.
    g.update_and_sample([_tx("z", 10, device_id="d")])
    assert np.array_equal(s1.x["device"][0], dev_before)
    assert s1.x["card"].shape == (2, NODE_DIM)
    e = s1.edge_index[("card", "uses", "device")]
    assert e.tolist() == [[0], [0]]
    assert s1.edge_index[("device", "rev_uses", "card")].tolist() == [[0], [0]]


def test_sampler_reaches_two_hops_and_skips_expired_links() -> None:
    g = RingGraph(RingGraphConfig(edge_ttl_s=10 * 3600.0, fanout=(10, 5)))
    g.update([_tx("old", 0, device_id="d", ip_address="i")])
    g.update(
        [_tx("x", 20 * HOUR, device_id="d"), _tx("y", 20 * HOUR, device_id="d", ip_address="j")]
    )
    s = g.sample([_tx("x", 20 * HOUR, device_id="d")])
    assert s.x["card"].shape[0] == 2  # x and y (hop 1 via d); "old" expired
    assert s.x["ip"].shape[0] == 1  # j: hop 2 through y


def test_mule_account_carries_inbound_transfer() -> None:
    g = RingGraph()
    g.update([_tx("victim", 0, counterparty_account_id="m", amount=900.0, tx_type="TRANSFER")])
    g.update([_tx("mule", 5 * 60_000, account_id="m", tx_type="TRANSFER")])
    f = g.features("account:m")
    base = 4 + 3 * len(RELATIONS)
    assert f[base] == pytest.approx(math.log1p(1))  # one inbound transfer
    assert f[base + 1] == 1.0
    assert f[base + 2] == pytest.approx(math.log1p(5))  # minutes since it
    assert f[base + 3] == pytest.approx(math.log1p(900.0))  # how much came in


def test_missing_card_id_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        RingGraph().update([{"event_time": 0}])


def _tiny_stream() -> list[dict[str, object]]:
    from fraudstream.generate.transactions import GeneratorConfig, TransactionGenerator

    cfg = GeneratorConfig(seed=3, n_customers=300, n_merchants=120, fraud_rate=0.05)
    return [r for b in TransactionGenerator(cfg).batches(count=1500, batch_size=500) for r in b]


def test_one_epoch_smoke_trains_and_scores() -> None:
    torch.set_num_threads(1)
    recs = _tiny_stream()
    samples, _ = stream_samples(recs, batch_size=256)
    model = fit_ring_model(samples, RingTrainConfig(hidden=8, epochs=1, seed=0))
    p = predict(model, samples)
    assert p.shape == (len(recs),)
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
    assert p.std() > 0  # the scores depend on the input
    assert isinstance(model, RingHeteroSAGE)


def test_fit_refuses_single_class() -> None:
    g = RingGraph()
    s = TorchSample(g.update_and_sample([_tx("a", 0), _tx("b", 1)]))
    with pytest.raises(ValidationError):
        fit_ring_model([s], RingTrainConfig(epochs=1))


def test_stacker_uses_the_complementary_signal() -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    n = 4000
    y = rng.random(n) < 0.05
    kind = rng.random(n) < 0.5  # half the frauds only the GNN sees
    tab = np.clip(0.05 + 0.6 * (y & ~kind) + rng.random(n) * 0.2, 0, 1)
    gnn = np.clip(0.05 + 0.6 * (y & kind) + rng.random(n) * 0.2, 0, 1)
    st = LogitStacker().fit(tab[:2000], gnn[:2000], y[:2000])
    both = st.predict(tab[2000:], gnn[2000:])
    assert (
        average_precision_score(y[2000:], both)
        > average_precision_score(y[2000:], tab[2000:]) + 0.2
    )
    with pytest.raises(ValidationError):
        LogitStacker().fit(tab[:10], gnn[:10], np.zeros(10, dtype=bool))
    with pytest.raises(ValidationError):
        LogitStacker().predict(tab, gnn)
