"""GraphSAGE (Hamilton et al. 2017) with the mean aggregator, over sampled blocks. Own layers, no PyG/DGL.

Layer: h_dst' = W_self h_dst + W_neigh mean_{u in N(dst)} h_u + b  (DGL's SAGEConv "mean"); a destination
without sampled neighbours aggregates zeros.
"""
from __future__ import annotations

import torch
from torch import nn

from .sampling import Block


def mean_aggregate(h_src: torch.Tensor, block: Block) -> torch.Tensor:
    """(S, F) source features -> (n_dst, F) mean over each destination's sampled in-edges."""
    out = torch.zeros(block.n_dst, h_src.shape[1], dtype=h_src.dtype, device=h_src.device)
    out.index_add_(0, block.edge_dst, h_src.index_select(0, block.edge_src))
    deg = torch.bincount(block.edge_dst, minlength=block.n_dst).clamp_(min=1)
    return out / deg.unsqueeze(1).to(h_src.dtype)


class SAGEConv(nn.Module):
    """One mean-aggregator GraphSAGE layer: (S, in) over a block -> (n_dst, out)."""

    def __init__(self, in_feats: int, out_feats: int):
        super().__init__()
        self.lin_self = nn.Linear(in_feats, out_feats)
        self.lin_neigh = nn.Linear(in_feats, out_feats, bias=False)

    def forward(self, block: Block, h_src: torch.Tensor) -> torch.Tensor:
        if self.lin_neigh.in_features > self.lin_neigh.out_features:
            # project first: the mean is linear, and aggregating the narrower vectors moves fewer bytes
            neigh = mean_aggregate(self.lin_neigh(h_src), block)
        else:
            neigh = self.lin_neigh(mean_aggregate(h_src, block))
        return self.lin_self(h_src[: block.n_dst]) + neigh


class GraphSAGE(nn.Module):
    """len(blocks) SAGE layers, ReLU + dropout between; (S0, in_feats) input-node features -> (B, classes)."""

    def __init__(self, in_feats: int, hidden: int, num_classes: int, num_layers: int, dropout: float = 0.5):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        dims = [in_feats] + [hidden] * (num_layers - 1) + [num_classes]
        self.layers = nn.ModuleList(SAGEConv(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = nn.Dropout(dropout)

    def forward(self, blocks: list[Block], x: torch.Tensor) -> torch.Tensor:
        if len(blocks) != len(self.layers):
            raise ValueError(f"model has {len(self.layers)} layers but got {len(blocks)} blocks")
        h = x
        for i, (layer, block) in enumerate(zip(self.layers, blocks)):
            h = layer(block, h)
            if i < len(self.layers) - 1:
                h = self.dropout(torch.relu(h))
        return h
