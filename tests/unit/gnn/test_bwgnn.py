"""BWGNN: the Beta-wavelet bank's maths, the module contract, and averaged-init training."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from fraudstream.detect.gnn.bwgnn import (  # noqa: E402
    BetaWaveletConv,
    BWGNNClassifier,
    beta_wavelet_coefficients,
    normalized_adjacency,
)
from fraudstream.detect.gnn.ensemble_train import EnsembleConfig, fit_ensemble  # noqa: E402


def _ring(n: int) -> np.ndarray:
    src = np.arange(n)
    return np.vstack([src, (src + 1) % n])


def test_wavelets_match_the_closed_form_on_the_spectrum() -> None:
    order = 3
    coeffs = beta_wavelet_coefficients(order)
    lam = np.linspace(0.0, 2.0, 9)
    for i, c in enumerate(coeffs):
        poly = np.polynomial.polynomial.polyval(lam, c)
        from math import gamma

        beta = gamma(i + 1) * gamma(order + 1 - i) / gamma(order + 2)
        want = (lam / 2) ** i * (1 - lam / 2) ** (order - i) / beta
        assert np.allclose(poly, want)
    # the first filter passes the constant signal (lambda = 0), the last one blocks it
    assert coeffs[0][0] > 0 and coeffs[-1][0] == 0.0


def test_conv_is_low_and_high_pass_on_a_ring() -> None:
    n = 8
    adj = normalized_adjacency(_ring(n), n)
    const = torch.ones(n, 1)
    alternating = torch.tensor([(-1.0) ** i for i in range(n)]).view(n, 1)  # lambda = 2
    conv = BetaWaveletConv(order=2)
    out_c, out_a = conv(const, adj), conv(alternating, adj)
    # constant (lambda 0): only the low-pass band answers; alternating (lambda 2): only the high
    assert torch.allclose(out_c[:, 1:], torch.zeros(n, 2), atol=1e-5)
    assert torch.allclose(out_a[:, :2], torch.zeros(n, 2), atol=1e-5)
    assert out_c[:, 0].abs().min() > 0.5 and out_a[:, 2].abs().min() > 0.5


def test_classifier_shapes_inductive_and_ego_block() -> None:
    torch.manual_seed(0)
    m = BWGNNClassifier(4, hidden_channels=8, order=2, keep_ego=True)
    out = m(torch.randn(10, 4), normalized_adjacency(_ring(10), 10))
    assert out.shape == (10,)
    # inductive: another graph of another size
    assert m(torch.randn(5, 4), normalized_adjacency(_ring(5), 5)).shape == (5,)
    assert m.head1.in_channels == 4 * 8  # ego + 3 bands


def test_fit_ensemble_learns_is_deterministic_and_respects_offset() -> None:
    rng = np.random.default_rng(1)
    n = 200
    y = (rng.random(n) < 0.2).astype(np.int64)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    x[:, 0] += 2.0 * y
    adj = normalized_adjacency(np.vstack([rng.integers(0, n, 600), rng.integers(0, n, 600)]), n)
    tr, va, te = np.arange(100), np.arange(100, 150), np.arange(150, 200)
    cfg = EnsembleConfig(lr=0.01, max_epochs=30, patience=30, inits=2, seed=4)
    p1 = fit_ensemble(lambda i: BWGNNClassifier(5, 8), x, adj, y, tr, va, cfg)
    p2 = fit_ensemble(lambda i: BWGNNClassifier(5, 8), x, adj, y, tr, va, cfg)
    assert np.allclose(p1, p2)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[te], p1[te]) > 0.8

    def zero_head(_: int) -> BWGNNClassifier:
        m = BWGNNClassifier(5, 8)
        torch.nn.init.zeros_(m.head2.weight)
        torch.nn.init.zeros_(m.head2.bias)
        return m

    # residual with zero epochs of improvement allowed: the output is the offset itself
    offset = rng.normal(size=n)
    cfg0 = EnsembleConfig(lr=0.0, max_epochs=1, inits=1)
    p0 = fit_ensemble(zero_head, x, adj, y, tr, va, cfg0, offset=offset)
    assert np.allclose(p0, 1 / (1 + np.exp(-offset)), atol=1e-6)


def test_symmetric_spmm_gradient_matches_dense() -> None:
    from fraudstream.detect.gnn.bwgnn import symmetric_spmm

    n = 7
    adj = normalized_adjacency(_ring(n), n)
    dense = adj.to_dense()
    x1 = torch.randn(n, 3, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    w = torch.randn(n, 3)
    (symmetric_spmm(adj, x1) * w).sum().backward()
    ((dense @ x2) * w).sum().backward()
    assert x1.grad is not None and x2.grad is not None
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)


def _tiny_graph_data(n: int = 300):  # type: ignore[no-untyped-def]
    import scipy.sparse as sp

    from fraudstream.detect.gnn.mat_loader import GraphData

    rng = np.random.default_rng(2)
    y = (rng.random(n) < 0.15).astype(np.int64)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    x[:, 1] += 1.5 * y
    src, dst = rng.integers(0, n, 3 * n), rng.integers(0, n, 3 * n)
    a = sp.csr_matrix((np.ones(3 * n, np.float32), (src, dst)), shape=(n, n))
    a = sp.csr_matrix(((a + a.T) > 0).astype(np.float32))
    a.setdiag(0)
    a.eliminate_zeros()
    return GraphData(x, y, a, {"homo": a}, name="tiny")


def test_bwgnn_scores_pure_and_residual() -> None:
    from sklearn.metrics import roc_auc_score

    from fraudstream.detect.gnn.benchmark import stratified_split
    from fraudstream.detect.gnn.hybrid import BWGNNSettings, bwgnn_scores

    g = _tiny_graph_data()
    tr, va, te = stratified_split(g.y, 0)
    s = BWGNNSettings(hidden_channels=8, max_epochs=30, patience=10, inits=2, lr=0.01)
    p = bwgnn_scores(g.x, g.edge_index(), g.y, tr, va, 0, settings=s)
    assert p.shape == (g.num_nodes,) and roc_auc_score(g.y[te], p[te]) > 0.7
    # residual: an informative offset is kept (the head starts at zero, training
    # keeps the best validation epoch), so the result ranks at least near as well
    offset = 3.0 * (g.y - 0.5) + np.random.default_rng(0).normal(size=g.num_nodes)
    pr = bwgnn_scores(g.x, g.edge_index(), g.y, tr, va, 0, offset_logit=offset, settings=s)
    assert roc_auc_score(g.y[te], pr[te]) > roc_auc_score(g.y[te], offset[te]) - 0.05


def test_benchmark_reports_paired_differences() -> None:
    from fraudstream.detect.gnn.benchmark import run_benchmark

    g = _tiny_graph_data()
    res = run_benchmark(g, [0, 1], ["xgb_features", "xgb_neighbour_agg"])
    paired = res.paired()
    assert set(paired) == {"xgb_features"}
    diff, wins = paired["xgb_features"]["roc_auc"]
    d = [
        res.runs["xgb_features"][i]["roc_auc"] - res.runs["xgb_neighbour_agg"][i]["roc_auc"]
        for i in range(2)
    ]
    assert diff == pytest.approx(float(np.mean(d))) and wins == sum(v > 0 for v in d)
    assert "Paired with `xgb_neighbour_agg`" in res.to_markdown()
    assert res.paired("not_run") == {}
