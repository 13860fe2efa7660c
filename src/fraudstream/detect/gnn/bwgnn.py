r"""Beta-wavelet graph neural network (BWGNN, Tang et al., ICML 2022), PyG style.

Anomalies shift a graph signal's energy towards high frequencies ("right-shift"):
a fraudster's features differ from its neighbours' more than a benign user's do.
BWGNN therefore filters with a bank of band-pass Beta-wavelet polynomials of the
normalised Laplacian :math:`L = I - D^{-1/2} A D^{-1/2}` instead of one low-pass
(smoothing) filter. With order :math:`C` the bank has :math:`C + 1` filters

.. math::
    W_i = \frac{(L/2)^i (I - L/2)^{C-i}}{B(i + 1, C + 1 - i)}, \quad i = 0 \dots C,

from low-pass (:math:`i = 0`) to high-pass (:math:`i = C`). Each filter is a
polynomial in :math:`L`, so one pass computes :math:`L^k h` for :math:`k \le C` and
every filter is a fixed linear combination of them (C sparse products in all).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from numpy.polynomial import polynomial as P
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear


def beta_wavelet_coefficients(order: int) -> list[list[float]]:
    """Monomial coefficients (ascending powers of ``L``) of the ``order + 1`` wavelets.

    Example:
        >>> [[round(c, 3) for c in row] for row in beta_wavelet_coefficients(1)]
        [[2.0, -1.0], [0.0, 1.0]]
    """
    out = []
    for i in range(order + 1):
        # (x/2)^i (1 - x/2)^(order-i) / B(i+1, order+1-i), expanded in powers of x.
        poly = P.polymul(P.polypow([0.0, 0.5], i), P.polypow([1.0, -0.5], order - i))
        beta = math.gamma(i + 1) * math.gamma(order + 1 - i) / math.gamma(order + 2)
        coeff = np.zeros(order + 1)
        coeff[: len(poly)] = poly / beta
        out.append(coeff.tolist())
    return out


def normalized_adjacency(edge_index: np.ndarray, num_nodes: int) -> Tensor:
    r"""Sparse CSR :math:`D^{-1/2} A D^{-1/2}` from ``edge_index [2, E]`` (symmetrised)."""
    ei = np.asarray(edge_index, dtype=np.int64)
    a = sp.csr_matrix(
        (np.ones(ei.shape[1], np.float32), (ei[1], ei[0])), shape=(num_nodes, num_nodes)
    )
    a = ((a + a.T) > 0).astype(np.float32)
    deg = np.asarray(a.sum(axis=1)).reshape(-1)
    inv = np.divide(1.0, np.sqrt(deg), out=np.zeros_like(deg), where=deg > 0)
    norm = sp.csr_matrix(sp.diags(inv) @ a @ sp.diags(inv), dtype=np.float32)
    norm.sort_indices()
    with warnings.catch_warnings():
        # "CSR support is in beta": spmm over CSR is the fast path (see train.to_adjacency).
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support", category=UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(norm.indptr.astype(np.int64)),
            torch.from_numpy(norm.indices.astype(np.int64)),
            torch.from_numpy(norm.data),
            size=(num_nodes, num_nodes),
            check_invariants=False,
        )


class _SymmetricSpmm(torch.autograd.Function):
    """``adj @ x`` for a symmetric sparse ``adj``: the gradient is ``adj @ grad``.

    torch's generic CSR backward builds the transpose on every call, which makes
    the backward pass five times the forward's on one core; symmetry makes it free.
    """

    @staticmethod
    def forward(ctx: Any, adj: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(adj)
        return adj @ x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor]:
        (adj,) = ctx.saved_tensors
        return None, adj @ grad


def symmetric_spmm(adj: Tensor, x: Tensor) -> Tensor:
    """``adj @ x`` for a symmetric sparse ``adj``, with a cheap backward pass."""
    out: Tensor = _SymmetricSpmm.apply(adj, x)
    return out


class BetaWaveletConv(nn.Module):
    r"""The Beta-wavelet filter bank, parameter-free (the MLPs around it learn).

    Args:
        order: polynomial order :math:`C`; the bank has ``order + 1`` filters.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``adj_norm`` sparse :math:`(N, N)`
          :math:`D^{-1/2} A D^{-1/2}` (see :func:`normalized_adjacency`), symmetric.
        - **output:** :math:`(N, (C + 1) F)`, filter ``i`` in block ``i``.

    Example:
        >>> import numpy as np, torch
        >>> adj = normalized_adjacency(np.array([[0, 1], [1, 2]]), 3)
        >>> BetaWaveletConv(order=2)(torch.randn(3, 4), adj).shape
        torch.Size([3, 12])
    """

    def __init__(self, order: int = 2) -> None:
        super().__init__()
        self.order = order
        theta = torch.tensor(beta_wavelet_coefficients(order), dtype=torch.float32)
        self.theta: Tensor
        self.register_buffer("theta", theta)  # [C + 1 filters, C + 1 powers]

    def forward(self, x: Tensor, adj_norm: Tensor) -> Tensor:
        powers = [x]
        for _ in range(self.order):
            h = powers[-1]
            powers.append(h - symmetric_spmm(adj_norm, h))  # L h
        stacked = torch.stack(powers, dim=0)  # [C + 1, N, F]
        out = torch.einsum("ik,knf->inf", self.theta, stacked)
        return torch.cat(list(out), dim=-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(order={self.order})"


class BWGNNClassifier(nn.Module):
    """BWGNN node classifier (homogeneous variant) returning one logit per node.

    Ego MLP encoder, the Beta-wavelet bank, an MLP head over the concatenated bands.
    With ``keep_ego`` the encoder output is concatenated too (ego/neighbour separation:
    the head can read the node's own encoding unfiltered). Inductive: nothing depends
    on node identity.

    Args:
        in_channels: node feature size.
        hidden_channels: width of the encoder, the bands and the head.
        order: wavelet order (``order + 1`` bands).
        dropout: dropout before the head.
        keep_ego: also feed the unfiltered encoding to the head.

    Example:
        >>> import numpy as np, torch
        >>> m = BWGNNClassifier(5, hidden_channels=8)
        >>> adj = normalized_adjacency(np.array([[0, 1, 2], [1, 2, 3]]), 4)
        >>> m(torch.randn(4, 5), adj).shape
        torch.Size([4])
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 64,
        order: int = 2,
        dropout: float = 0.0,
        keep_ego: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.dropout, self.keep_ego = dropout, keep_ego
        self.enc1 = Linear(in_channels, hidden_channels)
        self.enc2 = Linear(hidden_channels, hidden_channels)
        self.conv = BetaWaveletConv(order)
        blocks = order + 1 + int(keep_ego)
        self.head1 = Linear(blocks * hidden_channels, hidden_channels)
        self.head2 = Linear(hidden_channels, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for mod in (self.enc1, self.enc2, self.head1, self.head2):
            mod.reset_parameters()

    def forward(self, x: Tensor, adj_norm: Tensor) -> Tensor:
        """Fraud logits ``[N]`` from ``x [N, F]`` and the normalised adjacency."""
        h = F.relu(self.enc2(F.relu(self.enc1(x))))
        z = self.conv(h, adj_norm)
        if self.keep_ego:
            z = torch.cat([h, z], dim=-1)
        z = F.dropout(z, p=self.dropout, training=self.training)
        return self.head2(F.relu(self.head1(z))).view(-1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, hidden={self.hidden_channels}, "
            f"order={self.conv.order}, keep_ego={self.keep_ego})"
        )
