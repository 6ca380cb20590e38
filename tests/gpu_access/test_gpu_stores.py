"""Every registered feature store returns exactly the rows plain indexing returns; the auto rule.

Not proven here: speed, or the overlap of the cpu store's copy with compute (timing, on the lent GPU).
"""
import dataclasses

import pandas as pd
import pytest
import torch

from tests.conftest import only_cuda, with_cuda
from workbench.gpu_access.policy import AutoPolicy, calibrate, choose, host_choice
from workbench.gpu_access.stores import STORES, StoreOptions, make_store, runnable_stores

DTYPES = [torch.float32, torch.float16, torch.int64, torch.uint8]


@with_cuda
@pytest.mark.parametrize("name", STORES.names())
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_store_equals_plain_indexing(name, dtype, device):
    if STORES.get(name).needs_cuda and device == "cpu":
        pytest.skip(f"store {name!r} needs CUDA")
    gen = torch.Generator().manual_seed(0)
    table = (torch.randn(300, 37, generator=gen) * 50).to(dtype)  # 37: rows not 16-byte aligned
    idx = torch.randint(300, (513,), generator=gen)  # repeats on purpose
    idx[:3] = torch.tensor([0, 299, 0])
    store = make_store(name, table, device, StoreOptions(gather_threads=2))
    try:
        for _ in range(3):  # the cpu store alternates staging buffers: check more than one turn
            got = store.gather(idx)
            assert got.device.type == torch.device(device).type
            assert got.dtype == dtype and torch.equal(got.cpu(), table[idx])
        assert store.gather(idx[:0]).shape == (0, 37)
    finally:
        store.close()


@with_cuda
@pytest.mark.parametrize("name", STORES.names())
def test_every_store_equals_plain_indexing_when_the_cpu_gather_is_split(name, device, monkeypatch):
    """A table and calls large enough that the cpu store splits every gather across its threads (the 300-row
    table above is below its per-thread minimum, so one thread does it all): 20000 x 64 float32 (256 B rows),
    16384 rows per call = 4 MiB, 16 times the minimum, over 4 threads; on CUDA through the pinned staging
    buffers. Each call must be handed to the pool in 4 parts that together cover it."""
    if STORES.get(name).needs_cuda and device == "cpu":
        pytest.skip(f"store {name!r} needs CUDA")
    gen = torch.Generator().manual_seed(1)
    table = torch.randn(20000, 64, generator=gen)
    idx = torch.randint(20000, (16384,), generator=gen)
    store = make_store(name, table, device, StoreOptions(gather_threads=4))
    cpu = store if name == "cpu" else getattr(store, "inner", {}).get("cpu")  # auto: its cpu store, if built
    parts: list[int] = []
    if cpu is not None:
        submit = cpu._pool.submit

        def counted(fn, rows, ids, **kw):  # np.take(rows, ids, ...): the rows one thread gathers
            parts.append(len(ids))
            return submit(fn, rows, ids, **kw)
        monkeypatch.setattr(cpu._pool, "submit", counted)
    try:
        for _ in range(3):  # the cpu store alternates staging buffers on CUDA: more than one turn
            got = store.gather(idx)
            assert got.device.type == torch.device(device).type and torch.equal(got.cpu(), table[idx])
    finally:
        store.close()
    if cpu is not None:
        assert cpu.threads == 4 and len(parts) == 3 * 4 and sum(parts) == 3 * idx.numel()


def test_unknown_store_lists_known():
    with pytest.raises(ValueError, match="known: .*cpu.*zero_copy"):
        make_store("nvme", torch.zeros(2, 2), "cpu")


def test_store_refuses_non_contiguous():
    with pytest.raises(ValueError, match="contiguous"):
        make_store("cpu", torch.zeros(4, 4).t(), "cpu")


def test_runnable_stores_on_cpu():
    assert set(runnable_stores(torch.device("cpu"))) == {"cpu", "auto"}


def test_store_options_validate():
    with pytest.raises(ValueError, match="kernel"):
        StoreOptions(kernel="cublas")
    with pytest.raises(ValueError):
        AutoPolicy(gpu_fit_fraction=1.5)


@pytest.mark.parametrize("table, row, free, expected", [
    (10, 4, None, "cpu"),                 # no CUDA
    (100, 4, 1000, "gpu"),                # fits in half of free memory
    (600, 4096, 1000, "zero_copy"),       # does not fit, wide rows
    (600, 128, 1000, "cpu"),              # does not fit, narrow rows
    (600, 512, 1000, "zero_copy"),        # threshold inclusive
])
def test_auto_rule(table, row, free, expected):
    assert choose(table, row, free, AutoPolicy(gpu_fit_fraction=0.5, zero_copy_min_row_bytes=512)) == expected


def test_calibrate_picks_smallest_winning_row_size():
    """The smallest row size from which zero-copy wins at every wider row: a lone win at 128 B, lost again at
    256 B (noise), does not count (a "first win" rule would pick 128)."""
    rows = []
    for rb, cpu, zc in [(128, 10, 11), (512, 10, 12), (2048, 10, 30), (256, 10, 9)]:
        rows += [{"store": "cpu", "order": "random", "table_bytes": 1 << 30, "row_bytes": rb, "gbps": cpu},
                 {"store": "zero_copy", "order": "random", "table_bytes": 1 << 30, "row_bytes": rb, "gbps": zc},
                 {"store": "zero_copy", "order": "random", "table_bytes": 1 << 20, "row_bytes": rb, "gbps": 99}]
    assert calibrate(pd.DataFrame(rows)).zero_copy_min_row_bytes == 512
    only_cpu = pd.DataFrame([r for r in rows if r["store"] == "cpu"])
    assert calibrate(only_cpu, AutoPolicy(zero_copy_min_row_bytes=7)).zero_copy_min_row_bytes == 7


def test_calibrate_sets_one_threshold_per_table_size_and_choose_uses_it():
    """Zero-copy wins from 128 B rows on a 64 MiB table but only from 1024 B on a 32 GiB one (address translation
    on large tables); a table between two measured sizes takes the larger one's threshold."""
    small, large = 64 << 20, 32 << 30
    wins_from = {small: 128, large: 1024}
    rows = [{"store": s, "order": "random", "table_bytes": t, "row_bytes": rb,
             "gbps": 10.0 if s == "cpu" else (20.0 if rb >= wins_from[t] else 5.0)}
            for t in (small, large) for rb in (128, 512, 1024, 4096) for s in ("cpu", "zero_copy")]
    policy = calibrate(pd.DataFrame(rows))
    assert policy.thresholds == ((small, 1, 128), (large, 1, 1024)) and policy.zero_copy_min_row_bytes == 1024
    free = 1 << 20  # nothing fits on the GPU
    assert choose(small, 256, free, policy) == "zero_copy"
    assert choose(small + 1, 256, free, policy) == "cpu"        # between the sizes: the 32 GiB threshold
    assert choose(64 << 30, 4096, free, policy) == "zero_copy"  # beyond them all: the largest's
    assert choose(64 << 30, 512, free, policy) == "cpu"
    with pytest.raises(ValueError, match="thresholds"):
        AutoPolicy(thresholds=((0, 1, 128),))
    with pytest.raises(ValueError, match="triples"):
        AutoPolicy(thresholds=((1, 128),))


# zero-copy beats the CPU store from 512 B rows in calls of 4096 rows, but only from 4096 B in calls of 256 rows
# (short calls: launch and sort latency), on one 1 GiB table
BY_CALL = {256: 4096, 4096: 512}
TABLE = 1 << 30


def _bench_by_call() -> pd.DataFrame:
    return pd.DataFrame([{"store": s, "order": "random", "table_bytes": TABLE, "rows": n, "row_bytes": rb,
                          "gbps": 10.0 if s == "cpu" else (20.0 if rb >= BY_CALL[n] else 5.0)}
                         for n in BY_CALL for rb in (128, 512, 1024, 4096) for s in ("cpu", "zero_copy")])


def test_calibrate_groups_tables_by_the_size_asked_for():
    """A 132 B row cuts a few bytes smaller table from the same 64 MiB buffer: it belongs to the 64 MiB table's
    group, not to a table size of its own; zero-copy losing at the widest row switches it off (NEVER)."""
    from workbench.gpu_access.policy import NEVER
    target = 64 << 20
    rows = [{"store": s, "order": "random", "table_target_bytes": target, "table_bytes": target // rb * rb,
             "row_bytes": rb, "gbps": 10.0 if s == "cpu" else (20.0 if rb >= 1024 else 5.0)}
            for rb in (128, 132, 512, 1024, 4096) for s in ("cpu", "zero_copy")]
    policy = calibrate(pd.DataFrame(rows))
    assert policy.thresholds == ((target, 1, 1024),)
    assert choose(60 << 20, 512, 1 << 20, policy) == "cpu"  # the 64 MiB group's threshold, 1024 B
    lost = pd.DataFrame([{**r, "gbps": 10.0 if r["store"] == "cpu" else 5.0} for r in rows])
    assert calibrate(lost).thresholds == ((target, 1, NEVER),)
    assert choose(target, 1 << 20, 1 << 20, calibrate(lost)) == "cpu"  # wider than any row measured: still off


def test_calibrate_sets_one_threshold_per_call_size_and_the_choice_follows_the_call():
    policy = calibrate(_bench_by_call())
    assert policy.thresholds == ((TABLE, 256, 4096), (TABLE, 4096, 512))
    assert policy.zero_copy_min_row_bytes == 512  # the largest table's largest calls
    assert [host_choice(TABLE, 1024, policy, n) for n in (1, 256, 257, 4096, 10**6, None)] == \
        ["cpu", "cpu", "zero_copy", "zero_copy", "zero_copy", "zero_copy"]
    assert policy.host_stores(TABLE, 1024) == {"cpu", "zero_copy"}
    assert policy.host_stores(TABLE, 4096) == {"zero_copy"} and policy.host_stores(TABLE, 128) == {"cpu"}
    assert choose(TABLE, 1024, 1 << 40, policy, rows=1) == "gpu"  # fits: the call size does not matter


def test_auto_store_without_cuda_is_the_cpu_store():
    store = make_store("auto", torch.arange(12.0).reshape(4, 3), "cpu",
                       StoreOptions(policy=calibrate(_bench_by_call())))
    try:
        assert store.chosen == "cpu" and store.names == ("cpu",)
        assert torch.equal(store.gather(torch.tensor([3, 0])), torch.tensor([[9.0, 10, 11], [0, 1, 2]]))
    finally:
        store.close()


def test_auto_store_falls_back_to_cpu_when_zero_copy_is_refused(monkeypatch):
    """On a CPU-only machine the zero-copy store refuses (RuntimeError), as a refused host registration does on a
    GPU machine: told that the GPU has no room, auto warns and sends every call to the cpu store."""
    from workbench.gpu_access import stores
    monkeypatch.setattr(stores, "free_gpu_bytes", lambda device, cap=0: 0)
    table = torch.randn(50, 256)
    for policy in (calibrate(_bench_by_call()), AutoPolicy(zero_copy_min_row_bytes=0)):  # mixed; zero-copy only
        with pytest.warns(RuntimeWarning, match="zero_copy unavailable"):
            store = make_store("auto", table, "cpu", StoreOptions(policy=policy))
        try:
            assert store.names == ("cpu",) and store.chosen == "cpu"
            idx = torch.tensor([4, 4, 49, 0])
            assert torch.equal(store.gather(idx), table[idx])
        finally:
            store.close()


@pytest.mark.parametrize("row_floats, host_store", [(64, "cpu"), (256, "zero_copy")])  # 256 B rows; 1 KiB rows
def test_auto_store_falls_back_to_host_stores_when_the_gpu_copy_runs_out_of_memory(monkeypatch, row_floats,
                                                                                   host_store):
    """The rule picks ``gpu`` (free memory said the table fits) but the copy runs out of memory: auto warns and
    uses the host store the rule picks for a table kept on the host (on this CPU-only machine a zero_copy store
    is then refused as well, and the cpu store serves every call)."""
    from workbench.gpu_access import stores

    def out_of_memory(self, table, device, options):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB\n(allocator details)")
    monkeypatch.setattr(stores, "free_gpu_bytes", lambda device, cap=0: 1 << 40)
    monkeypatch.setattr(stores.GPUStore, "__init__", out_of_memory)
    table = torch.randn(50, row_floats)
    with pytest.warns(RuntimeWarning) as caught:
        store = make_store("auto", table, "cpu", StoreOptions(policy=AutoPolicy(zero_copy_min_row_bytes=512)))
    messages = [str(w.message) for w in caught]
    assert (f"does not fit in GPU memory (CUDA out of memory. Tried to allocate 1.00 GiB); using {host_store} "
            "instead") in messages[0]
    assert any("zero_copy unavailable" in m for m in messages) == (host_store == "zero_copy")
    try:
        assert store.names == ("cpu",) and set(store.inner) == {"cpu"}
        idx = torch.tensor([4, 4, 49, 0])
        assert torch.equal(store.gather(idx), table[idx]) and store.chosen == "cpu"
    finally:
        store.close()


@only_cuda
def test_auto_store_picks_per_call_by_rows():
    """Rows of 1 KiB on a table kept on the host: calls of up to 256 rows go to the CPU store, longer ones are
    gathered zero-copy; both return the rows plain indexing returns."""
    table = torch.randn(1000, 256)  # 1 KiB rows
    policy = dataclasses.replace(calibrate(_bench_by_call()), gpu_memory_cap_bytes=1)  # nothing fits the GPU
    store = make_store("auto", table, "cuda", StoreOptions(policy=policy))
    try:
        assert store.chosen == "cpu|zero_copy"
        small, large = torch.randint(1000, (100,)), torch.randint(1000, (3000,))
        assert torch.equal(store.gather(small).cpu(), table[small]) and store.chosen == "cpu"
        assert torch.equal(store.gather(large).cpu(), table[large]) and store.chosen == "cpu+zero_copy"
        assert store.calls == {"cpu": 1, "zero_copy": 1}
    finally:
        store.close()
