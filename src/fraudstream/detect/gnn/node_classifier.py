"""Inductive node classifier: ego MLP, separated SAGE layers, jumping-knowledge head.

Fraud graphs such as Amazon's carry most of their signal in the node's own
features, and the rest in how the node differs from its neighbourhood. The model
therefore encodes the ego with an MLP first, keeps ego and neighbours apart in every
layer (:class:`SepSAGEConv`) and classifies from the concatenation of all layers
(jumping knowledge), so the head can fall back on the ego encoding where the
neighbours are noise. Nothing depends on node identity: unseen nodes are scored
from their features and their sampled neighbourhood (inductive).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.typing import Adj

from fraudstream.detect.gnn.sep_sage_conv import SepSAGEConv


class FraudNodeClassifier(nn.Module):
    """Binary node classifier returning one logit per node.

    Args:
        in_channels: node feature size.
        hidden_channels: width of the encoder and of each conv block.
        num_layers: message-passing layers (hops).
        dropout: dropout probability between layers.

    Shapes:
        - **input:** ``x`` :math:`(N, F_{in})`, ``edge_index`` :math:`(2, E)`.
        - **output:** logits :math:`(N,)`.

    Example:
        >>> import torch
        >>> m = FraudNodeClassifier(5, hidden_channels=8, num_layers=2)
        >>> m(torch.randn(4, 5), torch.tensor([[0, 1, 2], [1, 2, 3]])).shape
        torch.Size([4])
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 64,
        num_layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.dropout = dropout
        self.enc1 = Linear(in_channels, hidden_channels)
        self.enc2 = Linear(hidden_channels, hidden_channels)
        self.convs = nn.ModuleList()
        self.projs = nn.ModuleList()
        for _ in range(num_layers):
            self.convs.append(SepSAGEConv(hidden_channels, hidden_channels))
            # Bring the two concatenated blocks back to the hidden width.
            self.projs.append(Linear(2 * hidden_channels, hidden_channels))
        self.head1 = Linear((num_layers + 1) * hidden_channels, hidden_channels)
        self.head2 = Linear(hidden_channels, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for mod in (self.enc1, self.enc2, self.head1, self.head2):
            mod.reset_parameters()
        for mod in (*self.convs, *self.projs):
            assert isinstance(mod, SepSAGEConv | Linear)
            mod.reset_parameters()

    def embed(self, x: Tensor, edge_index: Adj) -> Tensor:
        """Node embeddings ``[N, (num_layers + 1) * hidden]`` (ego block first)."""
        h = F.relu(self.enc1(x))
        h = F.dropout(h, p=self.dropout, training=self.training)
        h = F.relu(self.enc2(h))
        outs = [h]
        for conv, proj in zip(self.convs, self.projs, strict=True):
            h = F.dropout(h, p=self.dropout, training=self.training)
            h = F.relu(proj(F.relu(conv(h, edge_index))))
            outs.append(h)
        return torch.cat(outs, dim=-1)

    def forward(self, x: Tensor, edge_index: Adj) -> Tensor:
        """Return fraud logits ``[N]`` for ``x [N, F]`` and ``edge_index [2, E]``."""
        z = self.embed(x, edge_index)
        z = F.dropout(z, p=self.dropout, training=self.training)
        return self.head2(F.relu(self.head1(z))).view(-1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, hidden={self.hidden_channels}, "
            f"layers={self.num_layers})"
        )
