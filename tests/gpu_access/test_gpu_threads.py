"""The CPU thread budget: torch's intra-op threads and the cpu store's gather threads never exceed the cores
together (unless asked to explicitly, which is refused), the store gathers in its own threads without torch's
intra-op kernels, and the counts are recorded with every measurement.

Not proven: the throughput of either split (the lent GPU run measures that), or that numpy's ``take`` keeps
running without the GIL in future numpy versions (checked by hand for numpy 2.4).
"""
import threading

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.config import ConfigError, from_dict
from workbench.gpu_access import threads as threads_mod
from workbench.gpu_access.bench import gather_sweep
from workbench.gpu_access.experiments import end_to_end, thread_budget
from workbench.gpu_access.stores import StoreOptions, make_store
from workbench.gpu_access.study import GPUAccessConfig
from workbench.gpu_access.threads import split_threads


@pytest.mark.parametrize("cores, torch_t, gather_t, expected", [
    (16, 0, 0, (8, 8)),
    (15, 0, 0, (7, 8)),
    (16, 2, 0, (2, 14)),
    (16, 0, 12, (4, 12)),
    (16, 4, 12, (4, 12)),
    (2, 1, 0, (1, 1)),
    (1, 0, 0, (1, 1)),  # one core: nothing to split, they take turns
])
def test_split_threads(cores, torch_t, gather_t, expected):
    got = split_threads(cores, torch_t, gather_t)
    assert got == expected
    if cores > 1:
        assert sum(got) <= cores


def test_explicit_oversubscription_is_refused():
    with pytest.raises(ValueError, match="exceed the 16 usable cores"):
        split_threads(16, 8, 9)
    cfg = from_dict(GPUAccessConfig, {"torch_threads": 2, "gather_threads": 2})
    with pytest.raises(ConfigError, match="exceed the 3 usable cores"):
        thread_budget(cfg, cores=3)
    assert thread_budget(cfg, cores=4) == {"cores": 4, "torch_threads": 2, "gather_threads": 2}


def test_cpu_store_default_threads_are_what_torch_leaves(monkeypatch):
    monkeypatch.setattr(threads_mod, "usable_cores", lambda: 12)
    torch.set_num_threads(3)  # the autouse fixture restores it
    store = make_store("cpu", torch.zeros(10, 4), "cpu")
    assert store.threads == 9
    store.close()
    assert make_store("cpu", torch.zeros(10, 4), "cpu", StoreOptions(gather_threads=5)).threads == 5


def test_cpu_store_gathers_in_its_threads_without_torch_kernels(monkeypatch):
    """Several gather threads share a large batch, each with numpy (serial, GIL released); torch's
    index_select (whose intra-op pool would multiply the threads) is never called."""
    seen = set()
    real_take = np.take

    def take(*args, **kwargs):
        seen.add(threading.current_thread().name.split("_")[0])
        return real_take(*args, **kwargs)

    def no_index_select(*args, **kwargs):
        raise AssertionError("the cpu store must not gather with torch kernels")

    table = torch.randn(20000, 64)
    store = make_store("cpu", table, "cpu", StoreOptions(gather_threads=3))
    monkeypatch.setattr(np, "take", take)
    monkeypatch.setattr(torch, "index_select", no_index_select)
    idx = torch.randint(20000, (12000,), generator=torch.Generator().manual_seed(0))
    got = store.gather(idx)
    monkeypatch.undo()
    store.close()
    assert torch.equal(got, table[idx])
    assert seen == {"gather"}  # in the store's pool only (3 MB: big enough to be split)


def test_cpu_store_rejects_out_of_range_rows():
    store = make_store("cpu", torch.zeros(10, 4), "cpu", StoreOptions(gather_threads=2))
    for bad in ([0, 10], [-1, 3]):
        with pytest.raises(IndexError, match="out of range"):
            store.gather(torch.tensor(bad))
    store.close()


def test_thread_counts_are_recorded_with_measurements():
    bench = pd.DataFrame(gather_sweep(["cpu", "auto"], [128], [1 << 20], [256], ["random"], torch.device("cpu"),
                                      StoreOptions(gather_threads=2), repeats=1, warmup=0, progress=False))
    assert (bench.gather_threads == 2).all() and (bench.torch_threads == torch.get_num_threads()).all()
    cfg = from_dict(GPUAccessConfig, {"graphs": ["rmat:0.0002"], "stores": ["cpu"], "epochs": 1,
                                      "max_train_nodes": 64, "max_eval_nodes": 64, "torch_threads": 1})
    epochs, _ = end_to_end(cfg, torch.device("cpu"), progress=False)
    assert (epochs.gather_threads == thread_budget(cfg)["gather_threads"]).all()
    assert (epochs.torch_threads == torch.get_num_threads()).all()
    assert (epochs.energy_note == "unavailable: not a CUDA device").all()
