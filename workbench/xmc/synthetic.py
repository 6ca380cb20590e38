"""Synthetic XMC problems for scaling experiments (10^3 - 10^7 labels), generated on the fly, never committed.

Labels get power-law popularity (``p_l`` proportional to ``(rank_l + 1)^-alpha``, ranks randomly permuted over
label ids) and embeddings clustered around ``num_clusters`` random unit centres. Each point draws about
``labels_per_point`` distinct labels from the popularity law; its embedding is the normalised mean of its
labels' embeddings plus noise, so a dot-product retriever can find them. Everything is generated in fixed-size
chunks (memory O(L·dim + n·labels_per_point), never O(L^2)), each chunk from its own seeded generator, so the
output depends only on the arguments.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import torch

from .dataset import XMCDataset
from .raw_text import csr_from_rows

CHUNK = 1 << 16  # rows per generation chunk; fixed so results do not depend on any tuning knob


@dataclasses.dataclass
class SyntheticXMC:
    """label_emb (L, dim) float32 unit rows; query_emb (n, dim) float32 unit rows; Y (n, L) float32 CSR;
    label_prob (L,) float64 popularity law; cluster (L,) int64 label -> cluster; train_idx / test_idx row ids."""
    label_emb: torch.Tensor
    query_emb: torch.Tensor
    Y: sp.csr_matrix
    label_prob: np.ndarray
    cluster: np.ndarray
    train_idx: np.ndarray
    test_idx: np.ndarray

    @property
    def num_labels(self) -> int:
        return self.label_emb.shape[0]

    def to_dataset(self, name: str = "synthetic") -> XMCDataset:
        """The train/test split as an :class:`XMCDataset` (no texts; embeddings stay on this object)."""
        return XMCDataset(name=name, Y_train=self.Y[self.train_idx], Y_test=self.Y[self.test_idx])


def _gen(seed: int, stream: int, chunk: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, stream, chunk]).generate_state(1)[0]))


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _label_embeddings(L: int, dim: int, cluster: np.ndarray, spread: float, seed: int) -> torch.Tensor:
    centres = _unit(torch.randn(int(cluster.max()) + 1, dim, generator=_gen(seed, 0, 0)))
    out = torch.empty(L, dim)
    for c, s in enumerate(range(0, L, CHUNK)):
        e = min(s + CHUNK, L)
        noise = torch.randn(e - s, dim, generator=_gen(seed, 1, c))
        out[s:e] = _unit(centres[torch.from_numpy(cluster[s:e])] + spread * noise / dim ** 0.5)
    return out


def _draw_labels(n: int, lpp: float, cdf: np.ndarray, seed: int) -> list[np.ndarray]:
    rows = []
    for c, s in enumerate(range(0, n, CHUNK)):
        rng = np.random.default_rng([seed, 2, c])
        counts = np.maximum(1, rng.poisson(lpp, min(CHUNK, n - s)))
        draws = np.searchsorted(cdf, rng.random(int(counts.sum())), side="right").clip(max=len(cdf) - 1)
        rows.extend(np.unique(r) for r in np.split(draws, np.cumsum(counts)[:-1]))
    return rows


def _query_embeddings(Y: sp.csr_matrix, label_emb: torch.Tensor, noise: float, seed: int) -> torch.Tensor:
    n, dim = Y.shape[0], label_emb.shape[1]
    out = torch.empty(n, dim)
    for c, s in enumerate(range(0, n, CHUNK)):
        e = min(s + CHUNK, n)
        block = Y[s:e].tocoo()
        mean = torch.zeros(e - s, dim).index_add_(0, torch.from_numpy(block.row).long(),
                                                  label_emb[torch.from_numpy(block.col).long()])
        out[s:e] = _unit(_unit(mean) + noise * torch.randn(e - s, dim, generator=_gen(seed, 3, c)) / dim ** 0.5)
    return out


def make_synthetic(num_labels: int = 1000, num_points: int = 2000, dim: int = 32, labels_per_point: float = 3.0,
                   seed: int = 0, alpha: float = 1.0, num_clusters: int | None = None, spread: float = 0.5,
                   noise: float = 0.5, test_fraction: float = 0.3) -> SyntheticXMC:
    """A synthetic XMC problem (see module docstring).

    alpha: power-law exponent of label popularity; num_clusters: default ``ceil(sqrt(L))``; spread: label
    noise around its cluster centre (norm, relative to 1); noise: query noise around its labels' mean direction;
    labels_per_point: mean of the Poisson draw per point, raised to at least one label, so the mean drawn is
    ``labels_per_point + exp(-labels_per_point)`` (3.05 at 3, 1.37 at 1, 1.11 at 0.5), and duplicate draws of a
    popular label merge, so a point keeps slightly fewer (2.98, 1.36 and 1.10 over 20K points, 10^5 labels,
    alpha 1).
    """
    if num_labels < 1 or num_points < 1 or dim < 1 or labels_per_point <= 0 or not 0 <= test_fraction < 1:
        raise ValueError("need num_labels, num_points, dim >= 1, labels_per_point > 0, 0 <= test_fraction < 1")
    rng = np.random.default_rng([seed, 4])
    C = num_clusters or int(np.ceil(np.sqrt(num_labels)))
    cluster = rng.integers(0, C, num_labels)
    rank = rng.permutation(num_labels)
    prob = (rank + 1.0) ** -alpha
    prob /= prob.sum()
    label_emb = _label_embeddings(num_labels, dim, cluster, spread, seed)
    rows = _draw_labels(num_points, labels_per_point, np.cumsum(prob), seed)
    Y = csr_from_rows(rows, [np.ones(len(r), np.float32) for r in rows], num_labels)
    query_emb = _query_embeddings(Y, label_emb, noise, seed)
    perm = rng.permutation(num_points)
    n_test = int(round(test_fraction * num_points))
    return SyntheticXMC(label_emb, query_emb, Y, prob, cluster, np.sort(perm[n_test:]), np.sort(perm[:n_test]))
