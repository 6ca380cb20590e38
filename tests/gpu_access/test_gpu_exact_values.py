"""The CPU-side pieces of the GPU data-access study on cases solved by hand: the random split, R-MAT's quadrants,
id permutation, scale and edge count, the feature chunks' seeds, the CPU-time and NVML meters, and the gather
benchmark's bookkeeping (distinct rows, sorted order, alignment, unique-byte throughput, a store that does not fit),
and (a second such review) a one-row thread share, the auto policy's ties and R-MAT's d > 0. A review that changed
one line at a time found each change passed the rest of the suite.

Does not prove: any GPU behaviour (the CUDA tests and the lent-GPU runs do)."""
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.gpu_access import bench, meters, rmat
from workbench.gpu_access.graphs import random_split
from workbench.gpu_access.policy import calibrate
from workbench.gpu_access.stores import CPUStore, StoreOptions


def test_random_split_is_60_20_20_disjoint_and_complete():
    tr, va, te = random_split(10, seed=3)
    assert (len(tr), len(va), len(te)) == (6, 2, 2)
    assert sorted(torch.cat([tr, va, te]).tolist()) == list(range(10))


def test_rmat_quadrants_follow_a_b_c_d():
    """Scale 1 (two ids), a, b, c = 0.5, 0.3, 0.1 (d = 0.1): the edges (0, 0), (0, 1), (1, 0), (1, 1) come with
    shares a, b, c, d, up to the random relabelling of the two ids (which swaps a with d and b with c)."""
    src, dst = rmat.rmat_edges(1, 100_000, abc=(0.5, 0.3, 0.1), seed=0)
    share = Counter(zip(src.tolist(), dst.tolist()))
    diag = sorted(share[i, i] / 1e5 for i in (0, 1))
    off = sorted(share[i, 1 - i] / 1e5 for i in (0, 1))
    np.testing.assert_allclose(diag, [0.1, 0.5], atol=0.01)
    np.testing.assert_allclose(off, [0.1, 0.3], atol=0.01)


def test_rmat_ids_are_permuted_and_cover_a_non_power_of_two():
    """With a = 0.97 nearly every edge starts at the all-zero id before relabelling: across seeds the hub is not
    always id 0. 3000 nodes need scale 12 (ids to 4095, folded modulo 3000): ids 2048-2999 get edges too, and
    the graph is drawn with edge_factor * n edges."""
    hubs = {int(np.bincount(rmat.rmat_edges(3, 2000, abc=(0.97, 0.01, 0.01), seed=s)[0]).argmax()) for s in range(5)}
    assert hubs != {0}
    asked = []
    real = rmat.rmat_edges

    def spy(scale, num_edges, **kw):
        asked.append((scale, num_edges))
        return real(scale, num_edges, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rmat, "rmat_edges", spy)
        g = rmat.rmat_graph(3000, num_features=2, edge_factor=4)
    assert asked == [(12, 12_000)]
    assert bool((torch.diff(g.indptr)[2048:] > 0).any())


def test_feature_chunks_draw_from_their_own_seeds_whatever_the_thread_count():
    one = rmat._fill_features(10, 2, torch.float32, 0, rows_per_chunk=3, threads=1)
    two = rmat._fill_features(10, 2, torch.float32, 0, rows_per_chunk=3, threads=2)
    assert torch.equal(one, two) and not torch.equal(one[:3], one[3:6])


def test_cpu_seconds_are_user_plus_system(monkeypatch):
    monkeypatch.setattr(meters.psutil, "Process", lambda: SimpleNamespace(cpu_times=lambda: SimpleNamespace(
        user=1.5, system=0.25)))
    assert meters.cpu_seconds() == 1.75


def test_nvml_lookup_keeps_a_uuid_prefix_and_reads_the_current_device(monkeypatch):
    """A UUID torch already gives as "GPU-bbbb" is looked up as such (not "GPU-GPU-bbbb"); a device without an
    index is the current CUDA device's (here 1), not index 0."""
    looked, asked = [], []
    nvml = SimpleNamespace(nvmlDeviceGetHandleByUUID=lambda u: looked.append(u) or u)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    meters.nvml_handle(nvml, torch.device("cuda"), lambda i: asked.append(i) or SimpleNamespace(uuid="GPU-bbbb"))
    assert looked == ["GPU-bbbb"] and asked == [1]


def test_bench_bookkeeping_by_hand(monkeypatch):
    """Distinct rows of (3, 3, 1) are 2; "sorted" draws are sorted; a pool's unique-row count is the median of
    its draws' (1, 2, 3 distinct rows: 2)."""
    assert bench._distinct(torch.tensor([3, 3, 1])) == 2 and bench._distinct(torch.tensor([], dtype=torch.long)) == 0
    idx = bench._indices(100, 50, "sorted", torch.Generator().manual_seed(0))
    assert bool((idx[1:] >= idx[:-1]).all())
    draws = iter([torch.tensor([5, 5, 5]), torch.tensor([1, 2, 2]), torch.tensor([7, 8, 9])])
    monkeypatch.setattr(bench, "_indices", lambda n, rows, order, gen: next(draws))
    pools = bench._index_pools(10, [3], ["random"], 3, torch.Generator())
    assert pools[3, "random"][1] == 2


def test_sweep_rows_say_alignment_unique_throughput_and_what_did_not_fit(monkeypatch):
    """136-byte rows are 8- but not 16-byte aligned; gbps_unique / gbps = unique_rows / rows; a store whose
    table does not fit in GPU memory is a status row, not a missing one."""
    df = pd.DataFrame(bench.gather_sweep(["cpu"], [128, 136], [1 << 16], [256], ["random"], torch.device("cpu"),
                                         repeats=1, warmup=0, progress=False))
    assert dict(zip(df.row_bytes, df.aligned)) == {128: True, 136: False}
    np.testing.assert_allclose(df.gbps_unique * df.rows, df.gbps * df.unique_rows)
    assert (df.unique_rows < df.rows).all()   # 256 draws from 512 or 481 rows repeat some

    def no_room(name, table, device, options):
        raise torch.OutOfMemoryError("simulated")

    monkeypatch.setattr(bench, "make_store", no_room)
    oom = bench._one_store("cpu", torch.zeros(4, 32), torch.device("cpu"), bench.StoreOptions(), {}, 1, 0)
    assert [r["status"] for r in oom] == ["does not fit in GPU memory"]


def test_timed_gathers_read_draws_the_warm_up_never_read(monkeypatch):
    """Warm-up 2, repeats 3: the 3 timed calls gather 3 index draws of their own, none read during warm-up (a
    draw read before could find its rows in a cache). The GPU store is simulated: this checks the plumbing."""
    seen = []

    class Recording:
        threads, device = 0, torch.device("cpu")

        def __init__(self, table):
            self.table = table

        def gather(self, idx):
            seen.append(idx.data_ptr())
            return self.table.index_select(0, idx)

        def close(self):
            pass

    monkeypatch.setattr(bench, "make_store", lambda name, table, device, options: Recording(table))
    monkeypatch.setattr(bench, "pin_in_place", lambda buffer, device: SimpleNamespace(unpin=lambda: None))
    monkeypatch.setattr(bench, "median_seconds",
                        lambda fn, device, repeats, warmup, **kw: [fn() for _ in range(warmup + repeats)] and 1e-3)
    bench.gather_sweep(["zero_copy"], [128], [1 << 16], [64], ["random"], torch.device("cuda", 0), repeats=3,
                       warmup=2, progress=False, kernels=["index_select"], sorts=[False])
    warm, timed = seen[:2], seen[2:]
    assert len(timed) == 3 and len(set(timed)) == 3 and not set(warm) & set(timed)


@pytest.mark.parametrize("shape", [(7,), (7, 2, 3)])
def test_cpu_store_gathers_tables_of_any_row_shape(shape):
    """A 1-D table (one value per node) and a 3-D one gather like plain indexing (the store flattens each row to
    its bytes; reading the second dimension as the row length would fail or mix rows)."""
    from workbench.gpu_access.stores import StoreOptions, make_store
    table = torch.arange(int(np.prod(shape)), dtype=torch.float32).reshape(shape)
    idx = torch.tensor([6, 0, 3, 3])
    store = make_store("cpu", table, torch.device("cpu"), StoreOptions(gather_threads=2))
    try:
        assert torch.equal(store.gather(idx), table[idx])
    finally:
        store.close()


def test_cpu_store_gathers_a_thread_share_of_one_row():
    """3 rows of 256 KiB over 2 threads: parts = min(2, 3, 3 x 256 KiB // 256 KiB) = 2 and chunk bounds [0, 1, 3],
    so the first thread's share is 1 row; it must be gathered like the others (a skipped chunk leaves
    ``torch.empty``'s bytes in the output)."""
    table = torch.arange(3 * 65536, dtype=torch.float32).reshape(3, 65536)
    store = CPUStore(table, "cpu", StoreOptions(gather_threads=2))
    try:
        out = store.gather(torch.tensor([2, 0, 1]))
    finally:
        store.close()
    assert torch.equal(out, table[[2, 0, 1]])


def test_calibrate_counts_a_tie_as_a_zero_copy_win():
    """zero_copy at least as fast as cpu wins its row size: 5 vs 10 GB/s at 128 B loses, 10 vs 10 at 512 B ties and
    wins, so zero-copy serves rows from 512 B."""
    rows = [{"store": s, "order": "random", "table_bytes": 1 << 30, "row_bytes": rb, "gbps": g}
            for rb, cpu, zc in [(128, 10, 5), (512, 10, 10)] for s, g in (("cpu", cpu), ("zero_copy", zc))]
    assert calibrate(pd.DataFrame(rows)).zero_copy_min_row_bytes == 512


def test_rmat_refuses_quadrant_probabilities_that_leave_d_no_mass():
    """a + b + c must be below 1 (d = 1 - a - b - c > 0): (0.5, 0.25, 0.25) is refused."""
    with pytest.raises(ValueError, match=r"a \+ b \+ c < 1"):
        rmat.rmat_edges(2, 10, abc=(0.5, 0.25, 0.25))
