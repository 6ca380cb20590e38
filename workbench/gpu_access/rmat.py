"""Synthetic scale graphs: R-MAT edges (Graph500 parameters a=0.57, b=c=0.19, d=0.05) with random features.

R-MAT (Chakrabarti et al. 2004) drops each edge into one quadrant of the adjacency matrix per bit of the node
ids, giving the skewed, power-law degrees of real graphs. Node ids are randomly permuted afterwards (as Graph500
does) so that id order carries no locality. Labels are learnable from the features (argmax of a fixed random
projection), so accuracy is a sanity check, not a finding.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from .graphs import Graph, csr_from_edges, random_split

GRAPH500 = (0.57, 0.19, 0.19)


def rmat_edges(scale: int, num_edges: int, abc=GRAPH500, seed: int = 0,
               chunk: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """(src, dst) int64 arrays of ``num_edges`` R-MAT edges over 2**scale ids, ids randomly permuted."""
    a, b, c = abc
    if not (0 < a and 0 <= b and 0 <= c and a + b + c < 1):
        raise ValueError(f"R-MAT needs a > 0, b, c >= 0 and a + b + c < 1; got {abc}")
    rng = np.random.default_rng(seed)
    src = np.zeros(num_edges, np.int64)
    dst = np.zeros(num_edges, np.int64)
    for s in range(0, num_edges, chunk):
        e = min(s + chunk, num_edges)
        for level in range(scale):
            r = rng.random(e - s)
            down = r >= a + b  # quadrants c, d: the source id's bit is 1
            right = ((r >= a) & (r < a + b)) | (r >= a + b + c)  # quadrants b, d: the destination's bit is 1
            src[s:e] |= down.astype(np.int64) << level
            dst[s:e] |= right.astype(np.int64) << level
    perm = rng.permutation(1 << scale)
    return perm[src], perm[dst]


def _fill_features(n: int, width: int, dtype: torch.dtype, seed: int, rows_per_chunk: int,
                   threads: int) -> torch.Tensor:
    """(n, width) N(0, 1) rows, filled chunk by chunk in ``threads`` threads. Chunk k draws from its own
    generator (seeded by ``SeedSequence(seed).spawn``), so the table depends on the seed and the chunk size only,
    not on the thread count. (One generator is serial: ~0.5 GB/s, minutes for tens of GiB.)"""
    x = torch.empty(n, width, dtype=dtype)
    starts = list(range(0, n, rows_per_chunk))
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(len(starts))]

    def fill(k: int) -> None:  # torch releases the GIL inside normal_
        x[starts[k]:starts[k] + rows_per_chunk].normal_(generator=torch.Generator().manual_seed(seeds[k]))

    if threads <= 1 or len(starts) <= 1:
        for k in range(len(starts)):
            fill(k)
    else:
        with ThreadPoolExecutor(min(threads, len(starts)), thread_name_prefix="features") as pool:
            list(pool.map(fill, range(len(starts))))
    return x


def _labels(x: torch.Tensor, num_classes: int, gen: torch.Generator, rows_per_chunk: int) -> torch.Tensor:
    w = torch.randn(x.shape[1], num_classes, generator=gen)
    return torch.cat([(x[s:s + rows_per_chunk].float() @ w).argmax(1) for s in range(0, x.shape[0], rows_per_chunk)])


def rmat_graph(num_nodes: int, num_features: int = 128, edge_factor: int = 8, num_classes: int = 8,
               dtype: torch.dtype = torch.float32, seed: int = 0) -> Graph:
    """An R-MAT graph of ``num_nodes`` nodes (ids beyond a power of two folded modulo n), about
    ``edge_factor * num_nodes`` undirected edges before symmetrization and de-duplication,
    (num_nodes, num_features) N(0, 1) features of ``dtype``, a random 60/20/20 split."""
    if num_nodes < 2 or num_features < 1 or edge_factor < 1:
        raise ValueError(f"need num_nodes >= 2, num_features >= 1, edge_factor >= 1; got "
                         f"{num_nodes}, {num_features}, {edge_factor}")
    scale = max(1, math.ceil(math.log2(num_nodes)))
    src, dst = rmat_edges(scale, edge_factor * num_nodes, seed=seed)
    indptr, indices = csr_from_edges(src % num_nodes, dst % num_nodes, num_nodes)
    return with_random_features(f"rmat-{num_nodes}", indptr, indices, num_features, num_classes, dtype, seed)


def with_random_features(name: str, indptr: torch.Tensor, indices: torch.Tensor, num_features: int,
                         num_classes: int = 8, dtype: torch.dtype = torch.float32, seed: int = 0) -> Graph:
    """A Graph on the given CSR structure with N(0, 1) features, learnable labels, a random 60/20/20 split.
    Features are drawn with torch's intra-op thread count (the same values for any count)."""
    n = indptr.numel() - 1
    gen = torch.Generator().manual_seed(seed)
    chunk = max(1, (64 << 20) // (num_features * 4))  # 64 MiB of rows at a time
    x = _fill_features(n, num_features, dtype, seed, chunk, torch.get_num_threads())
    y = _labels(x, num_classes, gen, chunk)
    tr, va, te = random_split(n, seed=seed)
    return Graph(name, indptr, indices, x, y, tr, va, te, num_classes)


def host_bytes_needed(num_nodes: int, num_features: int, edge_factor: int,
                      dtype: torch.dtype = torch.float32) -> int:
    """Peak host bytes of :func:`rmat_graph`: building the CSR (measured ~116 B per R-MAT edge, before the features
    exist) or the features plus the CSR kept (~16 B per edge), whichever is larger; 128 and 16 are used here."""
    edges = edge_factor * num_nodes
    features = num_nodes * num_features * torch.empty((), dtype=dtype).element_size()
    return max(128 * edges, features + 16 * edges)


def nodes_for_bytes(feature_bytes: float, num_features: int, dtype: torch.dtype = torch.float32) -> int:
    """How many nodes give a feature table of ``feature_bytes`` bytes."""
    row = num_features * torch.empty((), dtype=dtype).element_size()
    return max(2, int(feature_bytes // row))
