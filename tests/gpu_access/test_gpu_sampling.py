"""Neighbour sampling: fan-outs respected, blocks valid and chained, selection uniform without replacement.

Tested on a small R-MAT graph (skewed degrees: both the take-all and the subsample paths run) and a star.
Not proven: speed, or GPU sampling from a unified (host-mapped) CSR beyond equality of rules (GPU run).
"""
import math
from collections import Counter

import pytest
import torch

from tests.conftest import only_cuda, with_cuda
from workbench.gpu_access import unified
from workbench.gpu_access.graphs import csr_from_edges
from workbench.gpu_access.rmat import rmat_graph
from workbench.gpu_access.sampling import Block, floyd_subsets, make_sampler, sample_neighbors

# GPU tests carry the ``cuda`` mark as well as the skip: scripts/gpu_checks.sh selects them with ``pytest -m cuda``.
# ``only_cuda`` (tests/conftest.py) adds both; a test with its own CUDA skipif adds the mark by hand (the conftest
# refuses such a test without it).


@pytest.fixture(scope="module")
def graph():
    return rmat_graph(2048, num_features=4, edge_factor=8, seed=1)


def _edges(indptr, indices):
    src = torch.repeat_interleave(torch.arange(indptr.numel() - 1), indptr.diff())
    return set(zip(src.tolist(), indices.tolist()))


def _check_block(block: Block, fanout: int, indptr, edges):
    n_dst = block.n_dst
    assert block.src_nodes.unique().numel() == block.src_nodes.numel()
    assert int(block.edge_dst.max()) < n_dst and int(block.edge_dst.min()) >= 0
    assert int(block.edge_src.max()) < block.src_nodes.numel()
    dst_g = block.src_nodes[block.edge_dst].tolist()
    src_g = block.src_nodes[block.edge_src].tolist()
    pairs = list(zip(dst_g, src_g))
    assert len(set(pairs)) == len(pairs), "sampled the same neighbour twice"
    assert all(p in edges for p in pairs), "a sampled edge is not in the graph"
    counts = torch.bincount(block.edge_dst, minlength=n_dst)
    deg = indptr[block.dst_nodes + 1] - indptr[block.dst_nodes]
    assert torch.equal(counts, deg.clamp(max=fanout) if fanout > 0 else deg)


@with_cuda
@pytest.mark.parametrize("fanouts", [[5, 3], [15, 10, 5], [-1, 2]])
def test_blocks_respect_fanouts_and_chain(graph, fanouts, device):
    name = "cpu" if device == "cpu" else "gpu"
    sampler = make_sampler(name, graph.indptr, graph.indices, fanouts, device, seed=3)
    seeds = torch.randperm(graph.num_nodes, generator=torch.Generator().manual_seed(0))[:64]
    blocks = sampler.sample(seeds)
    assert len(blocks) == len(fanouts)
    assert torch.equal(blocks[-1].dst_nodes.cpu(), seeds)
    edges = _edges(graph.indptr, graph.indices)
    for i, (block, fanout) in enumerate(zip(blocks, fanouts)):
        block = Block(*(t.cpu() if torch.is_tensor(t) else t for t in
                        (block.src_nodes, block.n_dst, block.edge_src, block.edge_dst)))
        _check_block(block, fanout, graph.indptr, edges)
        if i + 1 < len(blocks):
            assert torch.equal(block.src_nodes[: blocks[i + 1].src_nodes.numel()].cpu(), blocks[i + 1].src_nodes.cpu())


def test_uniform_without_replacement_on_a_star():
    indptr, indices = csr_from_edges(torch.zeros(10, dtype=torch.long).numpy(), torch.arange(1, 11).numpy(), 11)
    gen = torch.Generator().manual_seed(0)
    hits = torch.zeros(11)
    trials = 3000
    for _ in range(trials):
        pos, nbr = sample_neighbors(indptr, indices, torch.tensor([0]), 3, gen)
        assert nbr.numel() == 3 and nbr.unique().numel() == 3 and bool((pos == 0).all())
        hits[nbr] += 1
    p = hits[1:] / trials  # each leaf: 3/10; binomial sd ~ 0.0084, so 0.04 is ~5 sd
    assert torch.all((p - 0.3).abs() < 0.04), p


@with_cuda
def test_every_subset_equally_likely(device):
    """Floyd's algorithm: all C(6, 3) = 20 neighbour subsets of a 6-leaf star come up alike (chi-square over 6000
    draws, 19 dof: 43.8 is its 0.1% point; a rule that favoured late or early positions would exceed it), and
    on a 7-leaf star with fan-out 6 (the degree just above the fan-out) each leaf is left out equally often.
    Not proven: independence across batches beyond what one generator stream gives."""
    gen = torch.Generator(device=device).manual_seed(3)
    for leaves, k, draws in ((6, 3, 6000), (7, 6, 3500)):
        rows = floyd_subsets(torch.full((draws,), leaves, device=device), k, gen).cpu()
        assert bool(((rows >= 0) & (rows < leaves)).all())
        assert all(len(set(r)) == k for r in rows.tolist())
        counts = Counter(map(tuple, rows.sort(1).values.tolist()))
        cells = math.comb(leaves, k)
        assert len(counts) == cells
        expected = draws / cells
        chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
        assert chi2 < {19: 43.8, 6: 22.5}[cells - 1], (leaves, k, chi2, counts)


def test_floyd_subsets_on_huge_degrees():
    """Positions stay in range and distinct where float64 draws times the degree approach 2^53 (a hub far beyond
    any real graph), and a degree of exactly k + 1 still gives k distinct positions."""
    gen = torch.Generator().manual_seed(0)
    n = torch.tensor([2**52 - 1, 2**40, 16, 1_000_003])
    rows = floyd_subsets(n, 15, gen)
    assert bool((rows >= 0).all()) and bool((rows < n[:, None]).all())
    assert all(len(set(r)) == 15 for r in rows.tolist())


def test_bad_fanouts_rejected(graph):
    with pytest.raises(ValueError, match="fanouts"):
        make_sampler("cpu", graph.indptr, graph.indices, [0, 5], "cpu")
    with pytest.raises(ValueError, match="known"):
        make_sampler("tpu", graph.indptr, graph.indices, [5], "cpu")


@only_cuda
def test_unified_csr_samples_like_device_csr(graph):
    """Same generator seed, CSR in GPU memory vs mapped host memory: identical blocks; close() unpins. The
    mapped CSR is a page-aligned copy (small CSR arrays may share a page, which CUDA cannot register twice):
    the graph's own tensors are never pinned.

    Page-locked is asked of the copy's own bytes (``_pin_state``: its first and last byte), not with
    ``Tensor.is_pinned()``: that asks about the first byte of the tensor's *storage*, and a page-aligned copy is
    a view that starts up to a page into its storage, in padding that is not registered -- so ``is_pinned()``
    is False on it even while every byte of the CSR is pinned (the first GPU run failed on exactly that)."""
    seeds = torch.arange(0, graph.num_nodes, 37)
    a = make_sampler("gpu", graph.indptr, graph.indices, [5, 3], "cuda", seed=7, csr="device").sample(seeds)
    s = make_sampler("gpu", graph.indptr, graph.indices, [5, 3], "cuda", seed=7, csr="unified")
    holders = list(s._unified)
    b = s.sample(seeds)
    for x, y in zip(a, b):
        assert all(torch.equal(p, q) for p, q in zip(x.tensors(), y.tensors()))
    for h in holders:  # each CSR array: its own registration, covering all of it, page-locked end to end
        assert h.registered and h._pin.covers(h.host) and unified._pin_state(h.host) == "all"
        assert h.view.data_ptr() == h.host.data_ptr()  # the sampler read the host bytes in place
    assert all(unified._pin_state(t) == "none" for t in (graph.indptr, graph.indices))
    del b
    s.close()
    assert not any(h.registered for h in holders)
    assert all(unified._pin_state(h.host) == "none" for h in holders)
