"""Failure paths of the GPU data-access study, on a CPU: cleanup during exception propagation does not mask the
original error, registrations end even when CUDA fails, already-pinned memory is mapped only under a
registration whose extent is known, running out of memory is not blamed on Triton, a store that cannot be built
is a status row, and a thread count that takes every core is refused.

How: the fake CUDA runtime of test_gpu_unified_logic.py (registrations recorded, ``torch.as_tensor`` of the CUDA
array interface replaced by a CPU tensor holding the interface object), plus simulated errors.
Not proven: what a real driver reports (sticky errors, locked-memory limits), that torch's ``is_pinned()`` sees
registrations after ``torch.cuda.init()``, or the order of events on a GPU (the ``cuda`` tests check those).
"""
import dataclasses
import gc
import types

import pandas as pd
import pytest
import torch

from tests.conftest import only_cuda
from tests.gpu_access.test_gpu_unified_logic import fake_cuda  # noqa: F401 - the fixture
from workbench.config import ConfigError, from_dict
from workbench.gpu_access import bench, experiments, gather_kernel, stores, unified
from workbench.gpu_access.sampling import NeighborSampler
from workbench.gpu_access.study import GPUAccessConfig
from workbench.gpu_access.threads import default_gather_threads, split_threads
from workbench.gpu_access.unified import UnifiedTensor, page_aligned_copy


@pytest.fixture
def fake_pins(fake_cuda, monkeypatch):  # noqa: F811 - the imported fixture
    """The fake runtime, plus ``is_pinned`` answered from its registrations (whole byte ranges, not pages)."""
    def pinned(addr):
        return any(p <= addr < p + n for p, n in fake_cuda.registered.items())

    def pin_state(t):
        first, last = pinned(t.data_ptr()), pinned(t.data_ptr() + t.numel() * t.element_size() - 1)
        return "all" if first and last else "partial" if first or last else "none"
    monkeypatch.setattr(unified, "_pin_state", pin_state)
    return fake_cuda


# -- finding 1: release()/close() while an exception propagates ------------------------------------------------

def test_release_collects_views_held_only_by_a_reference_cycle(fake_cuda):  # noqa: F811
    """A view kept only by garbage (as a failed prefetch thread's traceback is) does not block release()."""
    host = torch.ones(8, 4)
    ut = UnifiedTensor(host, None)
    gc.disable()  # so that only release() can collect the cycle
    try:
        cycle = [ut.view[2:4]]
        cycle.append(cycle)
        del cycle
        ut.release()
        assert fake_cuda.unregistered == [host.data_ptr()]  # now, not at some later collection
    finally:
        gc.enable()
    assert fake_cuda.registered == {}


def test_zero_copy_close_during_an_exception_warns_instead_of_masking_it(fake_cuda, monkeypatch):  # noqa: F811
    def failing_gather(table, idx, kernel):  # its frame, kept by the traceback, holds the store's CUDA view
        raise ValueError("the original error")

    monkeypatch.setattr(stores, "require_cuda", lambda what: None)
    monkeypatch.setattr(stores, "gather_rows", failing_gather)
    host = torch.ones(16, 4)
    store = stores.ZeroCopyStore(host, "cpu", stores.StoreOptions(kernel="index_select"))

    def step():
        try:
            store.gather(torch.tensor([3, 1]))
        finally:
            store.close()

    with pytest.warns(RuntimeWarning, match="still alive"), pytest.raises(ValueError, match="the original error"):
        step()
    gc.collect()
    assert fake_cuda.registered == {} and fake_cuda.unregistered == [host.data_ptr()]  # ended with the traceback


def test_gpu_sampler_close_warns_for_a_living_view_and_releases_the_rest(fake_cuda):  # noqa: F811
    indptr, indices = torch.tensor([0, 1, 2]), torch.tensor([1, 0])
    holders = [UnifiedTensor(page_aligned_copy(t), None) for t in (indptr, indices)]
    sampler = NeighborSampler(holders[0].view, holders[1].view, [1], torch.device("cpu"))
    sampler._unified = holders  # as gpu_sampler(csr="unified") keeps them
    kept = holders[0].view[:1]
    with pytest.warns(RuntimeWarning, match="still alive"):
        sampler.close()
    assert list(fake_cuda.registered) == [holders[0].host.data_ptr()]  # the other CSR array was released now
    del kept
    gc.collect()
    assert fake_cuda.registered == {}


def test_mapped_csr_copies_are_locked_by_their_bytes_not_by_is_pinned(fake_pins):
    """Why the first GPU run's ``h.host.is_pinned()`` was False for the unified CSR (and why the test now asks
    ``_pin_state``): torch's ``is_pinned()`` looks up the first byte of the tensor's *storage*; a page-aligned copy
    starts up to a page into its storage, so that byte is unregistered padding. The copy's own bytes are all
    registered while its holder lives and none after release. (Registrations here are exact byte ranges; CUDA
    rounds them to whole pages, which still leaves the padding before the first page boundary outside.)"""
    def torch_is_pinned(t):  # PyTorch's rule: isPinnedPtr(self.storage().data())
        start = t.untyped_storage().data_ptr()
        return any(p <= start < p + n for p, n in fake_pins.registered.items())

    host = page_aligned_copy(torch.arange(4099))
    padded = host.untyped_storage().data_ptr() < host.data_ptr()  # almost always: allocations are 64 B aligned
    holder = UnifiedTensor(host, None)
    assert holder.registered and unified._pin_state(host) == "all"
    assert torch_is_pinned(host) is not padded  # the GPU failure: every byte of the CSR pinned, is_pinned() False
    holder.release()
    assert not holder.registered and unified._pin_state(host) == "none" and fake_pins.registered == {}


# -- finding 2: out of memory is not a Triton failure ------------------------------------------------------------

class _FailingLaunch:
    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            raise RuntimeError("simulated Triton compile error")
        return launch


def test_out_of_memory_in_the_triton_gather_is_raised_and_triton_stays_on(monkeypatch):
    fake_triton = types.SimpleNamespace(next_power_of_2=lambda n: 1 << (n - 1).bit_length(),
                                        cdiv=lambda a, b: -(-a // b))
    monkeypatch.setattr(gather_kernel, "_TRITON_BROKEN", [])
    monkeypatch.setattr(gather_kernel, "_triton_kernel", lambda: (fake_triton, _FailingLaunch()))
    table, idx = torch.arange(12.0).view(6, 2), torch.tensor([4, 1])

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("simulated: no room for the output")
    with monkeypatch.context() as m:
        m.setattr(torch, "empty", oom)  # the output allocation inside the Triton path
        with pytest.raises(torch.OutOfMemoryError):
            gather_kernel.gather_rows(table, idx, "auto")
    assert gather_kernel.triton_available() and gather_kernel._TRITON_BROKEN == []
    # a real Triton failure still falls back (and turns Triton off)
    with pytest.warns(UserWarning, match="simulated Triton compile error"):
        assert torch.equal(gather_kernel.gather_rows(table, idx, "auto"), table[idx])
    assert not gather_kernel.triton_available()


# -- finding 3: a failed host registration is a status row, not a failed benchmark ------------------------------

def test_sweep_records_unpinnable_zero_copy_and_keeps_the_other_stores(monkeypatch):
    def refuse(buffer, device):
        raise RuntimeError("cudaHostRegister of 65536 bytes failed: CUDA error 2 out of memory")

    real_make_store = bench.make_store

    def make_store(name, table, device, options):  # the cpu store runs on this CPU; the gpu store cannot
        if name == "gpu":
            raise RuntimeError("simulated: the gpu store cannot be built")
        return real_make_store(name, table, "cpu", options)

    monkeypatch.setattr(bench, "pin_in_place", refuse)
    monkeypatch.setattr(bench, "make_store", make_store)
    monkeypatch.setattr(bench, "median_seconds", lambda fn, device, repeats, warmup, **kw: (fn(), 1e-3)[1])
    df = pd.DataFrame(bench.gather_sweep(["cpu", "zero_copy", "gpu"], [128, 256], [1 << 16], [64], ["random"],
                                         torch.device("cuda", 0), repeats=1, warmup=0, progress=False))
    assert len(df) == 3 * 2
    status = df.groupby("store").status.unique().to_dict()
    assert list(status["cpu"]) == ["ok"] and (df[df.store == "cpu"].gbps > 0).all()
    assert list(status["zero_copy"]) == ["unavailable: cudaHostRegister of 65536 bytes failed: CUDA error 2 "
                                         "out of memory"]
    assert list(status["gpu"]) == ["unavailable: simulated: the gpu store cannot be built"]


def test_sweep_unpin_under_a_living_view_warns_and_the_view_keeps_the_pages(fake_cuda):  # noqa: F811
    """The sweep's buffer registration ends in a ``finally``: a view still alive there (in the traceback of the
    exception on its way out) gets a warning, not an error that would replace that exception, and the pages
    stay registered until the view dies."""
    buffer = torch.zeros(64, 4)
    pin = unified.pin_in_place(buffer)
    view = UnifiedTensor(buffer, None).view  # the tensor is gone, its borrowed view lives on
    with pytest.warns(RuntimeWarning, match="gather sweep: .*still alive"):
        bench._unpin(pin)
    del pin
    gc.collect()
    assert fake_cuda.registered == {buffer.data_ptr(): 1024}
    del view
    gc.collect()
    assert fake_cuda.registered == {} and fake_cuda.unregistered == [buffer.data_ptr()]


# -- finding 4: already-pinned memory ----------------------------------------------------------------------------

def test_pinned_memory_is_mapped_only_under_one_covering_registration_of_ours(fake_pins):
    buffer = torch.zeros(64, 4)
    reg = unified.pin_in_place(buffer)
    part = buffer[8:40]
    ut = UnifiedTensor(part, None)  # borrowed: no second registration
    assert not ut.registered and ut.view.data_ptr() == part.data_ptr()
    assert fake_pins.registered == {buffer.data_ptr(): buffer.numel() * 4}
    view = ut.view
    del reg
    gc.collect()
    assert fake_pins.registered  # the living view keeps the borrowed registration from being collected
    del view
    ut.release()
    gc.collect()
    assert fake_pins.registered == {} and fake_pins.unregistered == [buffer.data_ptr()]


def test_two_unified_tensors_of_one_buffer_keep_it_pinned_while_either_has_views(fake_pins):
    """The second borrows the first's registration; releasing the first while the second's view lives must not
    unregister the pages that view reads (on a GPU: an illegal address), in either order of release."""
    for first_goes_first in (True, False):
        host = torch.arange(64.0).reshape(16, 4)
        a = UnifiedTensor(host, None)
        b = UnifiedTensor(host, None)               # borrowed: no second registration
        assert a.registered and not b.registered and len(fake_pins.registered) == 1
        owner, other = (a, b) if first_goes_first else (b, a)
        view = other.view
        owner.release()
        gc.collect()
        assert fake_pins.registered == {host.data_ptr(): 256}, "unregistered under a living view"
        assert torch.equal(view[3], host[3])
        with pytest.raises(unified.ViewsAliveError):
            other.release()
        del view
        gc.collect()
        assert fake_pins.registered == {}           # ended with the last view of either
        other.release()                              # nothing left: no second unregister
        assert fake_pins.unregistered.count(host.data_ptr()) == 1
        fake_pins.unregistered.clear()


def test_pinned_memory_of_unknown_extent_is_refused(fake_pins):
    t = torch.zeros(64, 4)
    halves = [unified.pin_in_place(t[:32]), unified.pin_in_place(t[32:])]
    assert unified._pin_state(t) == "all"  # first and last bytes pinned: what the old rule accepted
    with pytest.raises(ValueError, match="already .*pinned"):
        UnifiedTensor(t, None)
    for h in halves:
        h.unpin()
    other = torch.zeros(16, 4)
    fake_pins.registered[other.data_ptr()] = 256  # pinned by someone else (pin_memory(), another library)
    with pytest.raises(ValueError, match="already .*pinned"):
        UnifiedTensor(other, None)
    del fake_pins.registered[other.data_ptr()]


def test_borrowed_registration_for_another_device_is_refused(fake_pins):
    t = torch.zeros(16, 4)
    reg = unified.pin_in_place(t, "cuda:0")
    with pytest.raises(RuntimeError, match="mapped for cuda:0, not cpu"):
        UnifiedTensor(t, None)
    reg.unpin()


# -- finding 5: a failed mapping unregisters at once -------------------------------------------------------------

def test_failed_mapping_unregisters_at_once(fake_cuda, monkeypatch):  # noqa: F811
    def refuse(obj):
        del obj  # as torch's C code: nothing of the array survives the failure
        raise RuntimeError("simulated mapping failure")

    monkeypatch.setattr(torch, "as_tensor", refuse)
    host = torch.ones(8, 4)
    with pytest.raises(RuntimeError, match="simulated mapping failure") as info:
        UnifiedTensor(host, None)
    assert fake_cuda.registered == {} and fake_cuda.unregistered == [host.data_ptr()]  # the traceback still lives
    del info


# -- finding 6: unregister after a CUDA fault --------------------------------------------------------------------

def test_unregister_runs_when_the_device_wait_fails(fake_cuda, monkeypatch):  # noqa: F811
    host = torch.ones(8, 4)
    ut = UnifiedTensor(host, None)

    def sticky(*args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(torch.cuda, "synchronize", sticky)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        ut.release()
    assert fake_cuda.registered == {} and fake_cuda.unregistered == [host.data_ptr()]


# -- finding 7: CUDA initialized before asking about pins; one thread count that takes every core -------------

def test_device_is_resolved_before_asking_whether_memory_is_pinned(fake_cuda, monkeypatch):  # noqa: F811
    order = []
    monkeypatch.setattr(unified, "_cuda_device", lambda device: order.append("device") or torch.device("cpu"))
    monkeypatch.setattr(unified, "_pin_state", lambda t: order.append("pin state") or "none")
    unified.pin_in_place(torch.ones(4)).unpin()
    assert order == ["device", "pin state"]  # _cuda_device initializes CUDA (test_cuda_device_resolution)


@pytest.mark.parametrize("cores, torch_t, gather_t", [(16, 16, 0), (16, 20, 0), (16, 0, 16), (2, 2, 0), (1, 2, 0)])
def test_one_thread_count_that_takes_every_core_is_refused(cores, torch_t, gather_t):
    with pytest.raises(ValueError, match=f"leaves none of the {cores} usable cores"):
        split_threads(cores, torch_t, gather_t)


def test_thread_defaults_when_torch_takes_every_core():
    assert split_threads(1, 1, 0) == (1, 1)  # one core: nothing to split, as documented
    assert default_gather_threads(16, cores=16) == 1  # a cpu store then gathers in the calling thread
    assert default_gather_threads(4, cores=16) == 12
    with pytest.raises(ConfigError, match="leaves none of the 4 usable cores"):
        experiments.thread_budget(from_dict(GPUAccessConfig, {"torch_threads": 4}), cores=4)


# -- finding 8: the store is closed when the sampler cannot be built; the sampler when the store's close fails --

def _tiny_cfg() -> GPUAccessConfig:
    return from_dict(GPUAccessConfig, {"graphs": ["rmat:0.0001"], "stores": ["cpu"], "epochs": 1,
                                       "max_train_nodes": 64, "max_eval_nodes": 64})


def test_store_is_closed_when_the_sampler_cannot_be_built(monkeypatch):
    closed, real_make_store = [], experiments.make_store

    def make_store(*args, **kwargs):
        store = real_make_store(*args, **kwargs)
        real_close = store.close
        store.close = lambda: (closed.append(store.name), real_close())
        return store

    def broken_sampler(*args, **kwargs):
        raise ValueError("simulated sampler bug")

    monkeypatch.setattr(experiments, "make_store", make_store)
    monkeypatch.setattr(experiments, "make_sampler", broken_sampler)
    with pytest.raises(ValueError, match="simulated sampler bug"):
        experiments.end_to_end(_tiny_cfg(), torch.device("cpu"), progress=False)
    assert closed == ["cpu"]


def test_a_store_that_cannot_be_built_is_a_status_row_and_the_others_still_train(monkeypatch):
    """A store whose construction raises a RuntimeError (on a GPU: cudaHostRegister refused by the locked-memory
    limit) gets an ``unavailable: <reason>`` status row, as in the sweep, and the next store still trains: the
    second of two cpu stores here."""
    real_make_store, calls = experiments.make_store, []

    def make_store(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("cudaHostRegister failed: CUDA error 2 out of memory")
        return real_make_store(*args, **kwargs)

    monkeypatch.setattr(experiments, "make_store", make_store)
    cfg = dataclasses.replace(_tiny_cfg(), stores=["cpu", "cpu"])
    epochs, status = experiments.end_to_end(cfg, torch.device("cpu"), progress=False)
    assert status["status"].tolist() == ["unavailable: cudaHostRegister failed: CUDA error 2 out of memory", "ran"]
    assert len(epochs) == cfg.epochs and set(epochs["store"]) == {"cpu"}


def test_sampler_is_closed_when_the_store_close_fails(monkeypatch):
    closed, real_make_store, real_make_sampler = [], experiments.make_store, experiments.make_sampler

    def make_store(*args, **kwargs):
        store = real_make_store(*args, **kwargs)

        def close():
            raise RuntimeError("simulated close failure")
        store.close = close
        return store

    def make_sampler(*args, **kwargs):
        sampler = real_make_sampler(*args, **kwargs)
        sampler.close = lambda: closed.append("sampler")
        return sampler

    monkeypatch.setattr(experiments, "make_store", make_store)
    monkeypatch.setattr(experiments, "make_sampler", make_sampler)
    with pytest.raises(RuntimeError, match="simulated close failure"):
        experiments.end_to_end(_tiny_cfg(), torch.device("cpu"), progress=False)
    assert closed == ["sampler"]


def test_gpu_sampler_on_a_cpu_run_is_refused_before_any_graph_is_loaded(monkeypatch):
    def no_load(*args, **kwargs):
        raise AssertionError("the graph was loaded before the sampler was checked")

    monkeypatch.setattr(experiments, "load_graph", no_load)
    cfg = dataclasses.replace(_tiny_cfg(), sampler="gpu")
    with pytest.raises(ValueError, match="sampler='gpu'.*device is cpu"):
        experiments.end_to_end(cfg, torch.device("cpu"), progress=False)


def test_gpu_sampler_on_a_cpu_run_is_refused_before_the_microbenchmark():
    """A GPU profile (sampler: gpu) where CUDA is not visible: refused by setup_device, in the notebook's first
    code cell, not by end_to_end after the whole gather sweep has run on the CPU (rehearsal of gpu.yaml)."""
    cfg = dataclasses.replace(_tiny_cfg(), device="cpu", sampler="gpu")
    with pytest.raises(ConfigError, match="sampler='gpu'.*device is cpu"):
        experiments.setup_device(cfg)
    threads = torch.get_num_threads()  # setup_device sets torch's thread count: put it back for later tests
    try:
        assert experiments.setup_device(dataclasses.replace(cfg, sampler="auto")).type == "cpu"
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("field", ["stores", "bench_stores"])
def test_only_cuda_stores_on_a_cpu_run_are_refused_up_front(field):
    cfg = dataclasses.replace(_tiny_cfg(), device="cpu", **{field: ["gpu", "zero_copy"]})
    with pytest.raises(ConfigError, match=f"{field}=.*none of them runs on this run's device \\(cpu\\)"):
        experiments.setup_device(cfg)


def test_an_empty_validation_split_reads_nan_not_zero_accuracy():
    """rmat:1e-9 is 2 nodes: a 60/20/20 split leaves no validation node. Its accuracy was written as 0.0, which
    reads as a measured (terrible) result; it is NaN now, and the test split's accuracy is a number."""
    cfg = GPUAccessConfig(device="cpu", graphs=["rmat:1e-9"], stores=["cpu"], bench_stores=["cpu"], epochs=1)
    cfg.validate()
    epochs, graphs = experiments.end_to_end(cfg, torch.device("cpu"), progress=False)
    assert graphs["val"].tolist() == [0]
    assert epochs["val_acc"].isna().all() and epochs["test_acc"].notna().all()


@pytest.mark.parametrize("field", ["torch_threads", "gather_threads"])
def test_thread_counts_below_zero_are_refused(field):
    """0 means the default split of the cores; a negative count is refused for either pool."""
    with pytest.raises(ConfigError, match="torch_threads, gather_threads must be >= 0"):
        GPUAccessConfig(**{field: -1}).validate()


@only_cuda
def test_a_gpu_memory_cap_above_the_gpu_warns_and_takes_the_whole_gpu():
    """gpu_memory_gib larger than the card cannot emulate a larger GPU: said, not silently capped at the card."""
    cfg = dataclasses.replace(_tiny_cfg(), device="cuda", gpu_memory_gib=100_000.0)
    threads = torch.get_num_threads()
    try:
        with pytest.warns(RuntimeWarning, match=r"gpu_memory_gib 100000 is more than this GPU's"):
            experiments.setup_device(cfg)
    finally:
        torch.set_num_threads(threads)
        torch.cuda.set_per_process_memory_fraction(1.0, experiments.with_index(torch.device("cuda")))
