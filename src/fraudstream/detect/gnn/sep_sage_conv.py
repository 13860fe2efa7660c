"""GraphSAGE convolution that keeps the ego and the neighbourhood apart.

PyG's ``SAGEConv`` adds ``W_root x_i`` and ``W_nbr mean(x_j)``. In fraud graphs
most neighbours of a fraudster are benign (heterophily: on Amazon U-P-U fewer
than one neighbour in ten of a fraudster is a fraudster), so summing blurs the ego
signal into the neighbours'. Concatenating the two (H2GCN's "ego/neighbour
separation") lets the next layer weigh them independently. The aggregation is a
mean, computed as a sparse matrix product when ``edge_index`` is a sparse adjacency
(5-20x cheaper on one core than gather/scatter, backward included).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.typing import Adj, SparseTensor
from torch_geometric.utils import spmm


class SepSAGEConv(MessagePassing):
    r"""Separated-ego SAGE convolution.

    .. math::
        \mathbf{x}'_i = \mathbf{W}_s \mathbf{x}_i \,\Vert\,
        \mathbf{W}_n \operatorname{mean}_{j \in \mathcal{N}(i)} \mathbf{x}_j

    Args:
        in_channels: size of each input node feature.
        out_channels: size of each of the two output blocks.
        bias: learn an additive bias.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`,
          edge indices :math:`(2, |\mathcal{E}|)` (source -> target) or a sparse
          adjacency :math:`(|\mathcal{V}|, |\mathcal{V}|)` (row = target).
        - **output:** node features :math:`(|\mathcal{V}|, 2 F_{out})`.

    Example:
        >>> import torch
        >>> conv = SepSAGEConv(4, 8)
        >>> conv(torch.randn(3, 4), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([3, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(aggr="mean")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.lin_self = Linear(in_channels, out_channels, bias=bias)
        self.lin_nbr = Linear(in_channels, out_channels, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin_self.reset_parameters()
        self.lin_nbr.reset_parameters()

    def forward(self, x: Tensor, edge_index: Adj) -> Tensor:
        """Return ``[N, 2 * out_channels]`` from ``x [N, in]`` and the graph."""
        mean = self.propagate(edge_index, x=x)  # [N, in]
        return torch.cat([self.lin_self(x), self.lin_nbr(mean)], dim=-1)

    def message(self, x_j: Tensor) -> Tensor:
        return x_j

    def message_and_aggregate(self, edge_index: Adj, x: Tensor) -> Tensor:
        # Only reached with a sparse adjacency: one sparse-dense product.
        assert isinstance(edge_index, Tensor | SparseTensor)
        return spmm(edge_index, x, reduce="mean")

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
