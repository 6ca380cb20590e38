"""Recursive balanced 2-means on normalised embeddings (NGAME's and UniDEC's query clustering).

Level by level, every group is split into two halves of sizes ceil(m/2) and floor(m/2) by a few rounds of
spherical 2-means whose assignment is balanced by ranking the points on <x, c_left - c_right> and cutting at the
middle. All groups of a level are processed together (vectorised over groups), so a level costs a few (n, d)
products and one sort, on GPU or CPU. Because halving keeps sizes within one of each other, every final cluster
has size floor(n / 2^t) or ceil(n / 2^t), t = the number of levels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _group_rank(group: torch.Tensor, score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank of each point inside its group by descending ``score`` (0 = best), and the group sizes."""
    order = torch.argsort(score, descending=True, stable=True)
    order = order[torch.argsort(group[order], stable=True)]
    sizes = torch.bincount(group)
    starts = torch.cumsum(sizes, 0) - sizes
    rank = torch.empty_like(group)
    rank[order] = torch.arange(len(group), device=group.device) - starts[group[order]]
    return rank, sizes


def _split_level(x: torch.Tensor, group: torch.Tensor, iters: int, generator: torch.Generator) -> torch.Tensor:
    """Each group g -> children 2g (first half) and 2g+1, balanced; returns the new group ids."""
    n_groups = int(group.max()) + 1
    score = torch.rand(len(group), generator=generator).to(x.device)  # random balanced start
    for _ in range(iters + 1):
        rank, sizes = _group_rank(group, score)
        child = 2 * group + (rank >= (sizes[group] + 1) // 2).long()
        cent = torch.zeros(2 * n_groups, x.shape[1], device=x.device, dtype=x.dtype).index_add_(0, child, x)
        cent = F.normalize(cent, dim=1)
        diff = cent[0::2] - cent[1::2]
        score = torch.einsum("nd,nd->n", x, diff[group])
    return child


def balanced_clusters(x: torch.Tensor, cluster_size: int, iters: int = 5, seed: int = 0) -> torch.Tensor:
    """(n,) int64 cluster id of each row of ``x`` (n, d): clusters of at most ``cluster_size`` points, all
    sizes within one of each other. ``cluster_size >= n`` gives one cluster; ``cluster_size <= 1`` n singletons."""
    n = x.shape[0]
    if cluster_size <= 1:
        return torch.arange(n, device=x.device)
    x = F.normalize(x.float(), dim=1)
    group = torch.zeros(n, dtype=torch.long, device=x.device)
    levels = max(0, math.ceil(math.log2(n / cluster_size))) if n > cluster_size else 0
    gen = torch.Generator().manual_seed(seed)
    for _ in range(levels):
        group = _split_level(x, group, iters, gen)
    return torch.unique(group, return_inverse=True)[1]


def cluster_members(ids: torch.Tensor) -> list[torch.Tensor]:
    """Cluster id per point -> list of CPU index tensors, one per cluster."""
    ids = ids.cpu()
    order = torch.argsort(ids, stable=True)
    return list(order.split(torch.bincount(ids).tolist()))
