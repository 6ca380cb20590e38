"""The sampler's blocks are bit-identical to those of a plain reference, and it syncs twice per layer.

``_ref_sample_neighbors`` is the sampler's neighbour sampling written plainly: syncing calls (nonzero,
repeat_interleave without ``output_size``) and Floyd's algorithm as a Python loop per seed over the same uniform
draws (the relabelling, ``to_block``, is shared). Same seeds, same generator state -> the same blocks, tensor for
tensor, and the generator left in the same state (so every later batch of an epoch matches too). Until 2026-11-24
the reference was the first implementation (a random key per edge, the ``fanout`` smallest kept), which the
vectorised sampler then matched bit for bit; Floyd's algorithm draws other subsets from the same distribution,
which ``test_gpu_sampling.py`` checks (inclusion and subset frequencies on stars).
Not proven here: speed (GPU run: ``pytest -m cuda tests/gpu_access/test_gpu_sampling_identity.py``, and the
study's ``sample_s``).
"""
import warnings

import pytest
import torch

from tests.conftest import only_cuda, with_cuda
from workbench.gpu_access.graphs import csr_from_edges
from workbench.gpu_access.rmat import rmat_graph
from workbench.gpu_access.sampling import make_sampler, to_block


def _ref_segment_positions(deg):
    seg = torch.repeat_interleave(torch.arange(deg.numel(), device=deg.device), deg)
    starts = torch.cumsum(deg, 0) - deg
    return seg, torch.arange(seg.numel(), device=deg.device) - starts[seg]


def _ref_floyd(n: int, k: int, u: list[float]) -> list[int]:
    chosen: list[int] = []
    for i, ui in enumerate(u):
        j = n - k + i
        t = min(int(ui * (j + 1)), j)
        chosen.append(j if t in chosen else t)
    return chosen


def _ref_sample_neighbors(indptr, indices, seeds, fanout, generator):
    start = indptr[seeds]
    deg = indptr[seeds + 1] - start
    take_all = deg <= fanout if fanout >= 0 else torch.ones_like(deg, dtype=torch.bool)
    small = torch.nonzero(take_all).flatten()
    seg_s, pos_s = _ref_segment_positions(deg[small])
    dst_pos, offsets = [small[seg_s]], [pos_s]
    big = torch.nonzero(~take_all).flatten()
    if big.numel():
        # the draws are step-major, (fanout, seeds): seed r's are column r
        u = torch.rand((fanout, big.numel()), device=big.device, dtype=torch.float64, generator=generator)
        picks = [_ref_floyd(int(d), fanout, row) for d, row in zip(deg[big].tolist(), u.T.tolist())]
        dst_pos.append(torch.repeat_interleave(big, fanout))
        offsets.append(torch.tensor(picks, dtype=torch.int64, device=big.device).flatten())
    dst_pos, offsets = torch.cat(dst_pos), torch.cat(offsets)
    return dst_pos, indices[start[dst_pos] + offsets]


def _reference_sample(indptr, indices, fanouts, seeds, generator):
    nodes, blocks = seeds.to(indptr.device, torch.int64), []
    for fanout in reversed(fanouts):
        b = to_block(nodes, *_ref_sample_neighbors(indptr, indices, nodes, fanout, generator))
        block = (b.src_nodes, b.n_dst, b.edge_src, b.edge_dst)
        blocks.insert(0, block)
        nodes = block[0]
    return blocks


def _star_and_isolated():
    """Node 0: 40 leaves; nodes 41..49: no edges at all; leaves point back to 0 (take-all, degree 1)."""
    src = [0] * 40 + list(range(1, 41))
    dst = list(range(1, 41)) + [0] * 40
    return csr_from_edges(torch.tensor(src).numpy(), torch.tensor(dst).numpy(), 50)


def _graphs():
    g1 = rmat_graph(2048, num_features=4, edge_factor=8, seed=1)
    g2 = rmat_graph(4096, num_features=4, edge_factor=4, seed=5)
    return {"rmat2048": (g1.indptr, g1.indices), "rmat4096": (g2.indptr, g2.indices),
            "star": _star_and_isolated()}


GRAPHS = _graphs()


def _assert_same(blocks, ref):
    assert len(blocks) == len(ref)
    for b, (src, n_dst, edge_src, edge_dst) in zip(blocks, ref):
        assert b.n_dst == n_dst
        for got, want in zip(b.tensors(), (src, edge_src, edge_dst)):
            assert got.dtype == want.dtype and torch.equal(got, want)


@with_cuda
@pytest.mark.parametrize("graph", sorted(GRAPHS))
@pytest.mark.parametrize("fanouts", [[15, 10, 5], [5, 3], [-1, 2], [1], [2, -1, 1]])
def test_blocks_identical_to_reference(graph, fanouts, device):
    indptr, indices = GRAPHS[graph]
    n = indptr.numel() - 1
    name = "cpu" if device == "cpu" else "gpu"
    for seed in (0, 1, 7):
        sampler = make_sampler(name, indptr, indices, fanouts, device, seed=seed)
        gen = torch.Generator(device=sampler.device).manual_seed(seed)
        ref_csr = (sampler.indptr, sampler.indices)
        batches = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).split(37)[:4]
        for seeds in [*batches, torch.arange(min(n, 64))]:  # several batches: the generator advances alike
            _assert_same(sampler.sample(seeds), _reference_sample(*ref_csr, fanouts, seeds, gen))
            assert torch.equal(sampler.generator.get_state(), gen.get_state())


@only_cuda
@pytest.mark.parametrize("fanouts", [[15, 10, 5], [-1, 2]])
def test_two_syncs_per_layer(fanouts):
    """Per layer: one read of the sizes to allocate (sampling), and ``torch.unique``'s own (relabelling; counted
    here on its own, as PyTorch's implementation decides how many it takes). Counted by CUDA's sync debug mode,
    which warns at every synchronizing call."""
    indptr, indices = GRAPHS["rmat4096"]
    sampler = make_sampler("gpu", indptr, indices, fanouts, "cuda", seed=0)
    seeds = torch.randperm(indptr.numel() - 1, generator=torch.Generator().manual_seed(0))[:512]
    sampler.sample(seeds)  # warm-up: lazy CUDA initialisations may sync once
    ids = torch.randint(1000, (4096,), device="cuda")
    torch.unique(ids, return_inverse=True)
    torch.cuda.synchronize()

    def count_syncs(fn) -> list[str]:
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return [str(w.message) for w in caught if "synchroniz" in str(w.message)]

    in_unique = len(count_syncs(lambda: torch.unique(ids, return_inverse=True)))
    syncs = count_syncs(lambda: sampler.sample(seeds))
    assert len(syncs) == (1 + in_unique) * len(fanouts), syncs
