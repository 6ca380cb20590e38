"""The unified tensor's CUDA-independent logic, on a CPU: device resolution, the zero-copy alias check, the
registration lifetime (exactly one unregister, never while a view lives, none leaked when mapping fails), the
cudaHostRegister error path, page-aligned copies, and the Triton gather kernel in Triton's interpreter.

How: the CUDA runtime is replaced by a fake that records registrations, and ``torch.as_tensor`` of the CUDA
array interface by a CPU tensor that holds the interface object the way torch's CUDA deleter does.
Not proven: that a real driver maps the memory, that torch tags it with the registering device, Triton's GPU
code generation or alignment (the ``cuda`` tests in test_gpu_unified.py check those on a lent GPU).
"""
import contextlib
import gc
import mmap

import numpy as np
import pytest
import torch

from workbench.gpu_access import gather_kernel, unified
from workbench.gpu_access.unified import UnifiedTensor, page_aligned_copy


class FakeCudart:
    """cudaHostRegister / cudaHostUnregister bookkeeping; 712 for a second registration, 713 for a stray unregister."""

    def __init__(self):
        self.registered: dict[int, int] = {}
        self.unregistered: list[int] = []

    def cudaHostRegister(self, ptr, nbytes, flags):
        if ptr in self.registered:
            return 712
        self.registered[ptr] = nbytes
        return 0

    def cudaHostUnregister(self, ptr):
        if self.registered.pop(ptr, None) is None:
            return 713
        self.unregistered.append(ptr)
        return 0

    def cudaGetErrorString(self, err):
        return {712: "part or all of the requested memory range is already mapped"}.get(int(err), "error")


class _HostArray:
    """numpy's view of the CUDA array interface; holding ``obj`` as torch's from_blob deleter does."""

    def __init__(self, obj):
        self.obj = obj
        cai = obj.__cuda_array_interface__
        self.__array_interface__ = {"shape": cai["shape"], "typestr": cai["typestr"], "data": cai["data"],
                                    "version": 3}


@pytest.fixture
def fake_cuda(monkeypatch):
    """CUDA calls of unified.py on a CPU; the 'device' the view lands on is ``fake_cuda.placed``."""
    rt = FakeCudart()
    rt.placed = torch.device("cpu")  # where the fake as_tensor puts the view (the real one: the registering GPU)
    monkeypatch.setattr(unified, "require_cuda", lambda what: None)
    monkeypatch.setattr(unified, "_uva_ok", lambda device: True)
    monkeypatch.setattr(unified, "_cuda_device", lambda device: torch.device("cpu") if device is None
                        else torch.device(device))
    monkeypatch.setattr(torch.cuda, "cudart", lambda: rt)
    monkeypatch.setattr(torch.cuda, "device", lambda *a: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)

    def as_tensor(obj):
        t = torch.from_numpy(np.asarray(_HostArray(obj)))
        return t if rt.placed.type == "cpu" else t.clone()  # elsewhere: a copy, as torch would make
    monkeypatch.setattr(torch, "as_tensor", as_tensor)
    return rt


def test_cuda_device_resolution(monkeypatch):
    inits = []
    monkeypatch.setattr(torch.cuda, "init", lambda: inits.append(1))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert unified._cuda_device("cuda:0") == torch.device("cuda", 0)
    assert inits  # CUDA initialized even for an explicit index: is_pinned() is False for everything before
    assert unified._cuda_device("cuda") == torch.device("cuda", 1)  # a bare "cuda" is fixed to the current one
    assert unified._cuda_device(None) == torch.device("cuda", 1)
    assert unified._cuda_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ValueError, match="does not exist: this machine has 2"):
        unified._cuda_device("cuda:2")
    with pytest.raises(ValueError, match="CUDA device; got device cpu"):
        unified._cuda_device("cpu")


def test_alias_check():
    host = torch.arange(12.0)
    unified._check_alias(host.view(3, 4), host, torch.device("cpu"))  # same memory, same device: fine
    with pytest.raises(RuntimeError, match="mapped for cpu, not cuda:1"):
        unified._check_alias(host, host, torch.device("cuda", 1))
    with pytest.raises(RuntimeError, match="made a copy"):
        unified._check_alias(host.clone(), host, torch.device("cpu"))


def test_view_aliases_and_registration_lives_exactly_as_long_as_views(fake_cuda):
    host = torch.arange(40, dtype=torch.float32).reshape(10, 4)
    ut = UnifiedTensor(host, None)
    assert ut.registered and fake_cuda.registered == {host.data_ptr(): 160}
    assert ut.view.data_ptr() == host.data_ptr() and ut.view.dtype == host.dtype and ut.view.shape == host.shape
    host[3] = -1.0
    assert torch.equal(ut[torch.tensor([3, 0])], host[[3, 0]])  # the view reads the host memory itself
    derived = ut.view[2:5]
    with pytest.raises(RuntimeError, match="still alive"):
        ut.release()
    assert fake_cuda.registered  # not unregistered under a living view
    del derived
    gc.collect()
    assert fake_cuda.registered == {} and fake_cuda.unregistered == [host.data_ptr()]  # when the last view died
    ut.release()  # nothing left to do: no second unregister (the fake would answer 713)
    assert fake_cuda.unregistered == [host.data_ptr()]


def test_release_unregisters_once(fake_cuda):
    host = torch.ones(8, 8)
    ut = UnifiedTensor(host, None)
    ut.release()
    gc.collect()
    assert fake_cuda.registered == {} and fake_cuda.unregistered == [host.data_ptr()]


def test_device_mismatch_raises_and_leaks_no_registration(fake_cuda):
    """The memory lands on another device than asked for (torch would copy it there): refuse, unregister."""
    fake_cuda.placed = torch.device("cuda", 0)
    host = torch.ones(16, 4)
    with pytest.raises(RuntimeError, match="not zero-copy|mapped for"):
        UnifiedTensor(host, "cpu")
    gc.collect()
    assert fake_cuda.registered == {} and fake_cuda.unregistered == [host.data_ptr()]


def test_already_registered_range_says_what_to_do(fake_cuda):
    host = torch.ones(4, 4)
    first = unified.pin_in_place(host)
    with pytest.raises(RuntimeError, match="CUDA error 712 .*already mapped.*page-aligned copy"):
        unified.pin_in_place(host)
    first.unpin()
    first.unpin()
    assert fake_cuda.unregistered == [host.data_ptr()]


def test_owner_cannot_unpin_while_a_borrowers_views_live(fake_cuda):
    """A unified tensor of memory pinned by pin_in_place borrows that registration: the owner's unpin() refuses
    while the borrower's views live (on a GPU they would then read unpinned memory), and unregisters, exactly
    once, after the borrower's release."""
    host = torch.arange(64.0).reshape(16, 4)
    reg = unified.pin_in_place(host)
    ut = UnifiedTensor(host[4:12], None)
    assert not ut.registered and fake_cuda.registered == {host.data_ptr(): 256}
    with pytest.raises(unified.ViewsAliveError, match="still alive"):
        reg.unpin()
    assert fake_cuda.registered == {host.data_ptr(): 256} and reg.alive  # still pinned under the view
    assert torch.equal(ut[torch.tensor([0, 7])], host[[4, 11]])
    ut.release()
    reg.unpin()
    reg.unpin()
    assert fake_cuda.registered == {} and fake_cuda.unregistered == [host.data_ptr()]


@pytest.mark.parametrize("t", [torch.arange(5), torch.randn(3, 7), torch.zeros(10000, dtype=torch.bool),
                               torch.randn(1000, 3).half()])
def test_page_aligned_copy_owns_its_pages(t):
    c = page_aligned_copy(t)
    assert torch.equal(c, t) and c.dtype == t.dtype and c.is_contiguous() and c.data_ptr() != t.data_ptr()
    assert c.data_ptr() % mmap.PAGESIZE == 0
    end = c.data_ptr() + c.numel() * c.element_size()
    storage = c.untyped_storage()
    assert -(-end // mmap.PAGESIZE) * mmap.PAGESIZE <= storage.data_ptr() + storage.nbytes()


def test_pin_state_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("on a GPU machine memory may be pinned")
    assert unified._pin_state(torch.ones(100)) == "none"


@pytest.fixture
def triton_interpreter(monkeypatch):
    """The gather kernel compiled for Triton's interpreter (numpy on the CPU, int32 wrap-around emulated)."""
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    gather_kernel._triton_kernel.cache_clear()
    yield
    gather_kernel._triton_kernel.cache_clear()


@pytest.mark.parametrize("dtype, width", [(torch.uint8, 37), (torch.float16, 7), (torch.float32, 33),
                                          (torch.int64, 3), (torch.bool, 5), (torch.float32, 1100)])
def test_triton_kernel_in_interpreter(triton_interpreter, dtype, width):
    """Row and column masks (batch not a multiple of the row block; 1100 words: two column blocks), 1-, 2- and
    4-byte words, a strided index and an empty one, bit for bit."""
    gen = torch.Generator().manual_seed(width)
    table = torch.randint(0, 256, (100, width * torch.empty((), dtype=dtype).element_size()), dtype=torch.uint8,
                          generator=gen).view(dtype) if dtype != torch.bool else torch.rand(100, width) > 0.5
    idx = torch.randint(100, (2 * 51,), generator=gen)[::2]
    assert not idx.is_contiguous()
    got = gather_kernel._triton_gather(table, idx)
    assert torch.equal(got.view(torch.uint8), table[idx].view(torch.uint8))
    assert gather_kernel._triton_gather(table, idx[:0]).shape == (0, width)


@pytest.mark.parametrize("kernel", list(gather_kernel.TRITON_SHAPES))
@pytest.mark.parametrize("dtype, width", [(torch.uint8, 37), (torch.float32, 32), (torch.float32, 300),
                                          (torch.float16, 1025)])
def test_every_triton_tile_agrees_with_index_select(triton_interpreter, kernel, dtype, width):
    """Each tile of the benchmark's kernel comparison (``triton``, ``triton_wide``, ``triton_narrow``), through
    ``gather_rows`` as the stores call it, gives index_select's bits: rows wider than a tile's column block
    (300 and 1025 words for the narrow tile's 256) and batches that are not a multiple of its rows."""
    gen = torch.Generator().manual_seed(width)
    table = torch.randint(0, 256, (90, width * torch.empty((), dtype=dtype).element_size()), dtype=torch.uint8,
                          generator=gen).view(dtype)
    idx = torch.randint(90, (77,), generator=gen)
    got = gather_kernel.gather_rows(table, idx, kernel)
    assert torch.equal(got.view(torch.uint8), gather_kernel.gather_rows(table, idx, "index_select").view(torch.uint8))


def test_tiles_keep_the_default_launch():
    """``triton`` (and ``auto``) keep the first GPU run's launch: 4096-word tiles, rows up to 1024 words, 4 warps."""
    assert gather_kernel.TRITON_SHAPES["triton"] == gather_kernel.TritonShape(4096, 1024, 4)
    assert set(gather_kernel.KERNELS) == {"index_select", "auto", *gather_kernel.TRITON_SHAPES}


@pytest.mark.slow
def test_triton_kernel_reads_rows_beyond_2_31_words(triton_interpreter):
    """A 2.1 GB table of 1-byte words: the last rows' offsets exceed 2^31, which would wrap in int32."""
    row = 129  # odd: gathered as 1-byte words
    n = (1 << 31) // row + 64
    table = torch.empty(n, row, dtype=torch.uint8)
    tail = torch.arange(64 * row, dtype=torch.int64).remainder(251).to(torch.uint8).view(64, row)
    table[-64:] = tail
    table[:64] = 7
    idx = torch.tensor([n - 1, 0, n - 64, n - 2])
    got = gather_kernel._triton_gather(table, idx)
    assert torch.equal(got, table[idx])


@pytest.mark.parametrize("t,err,match", [
    (torch.arange(12.0).reshape(3, 4).T, ValueError, "contiguous"),      # a transposed view: strided
    (torch.arange(12.0)[::2], ValueError, "contiguous"),                  # a step slice
    (torch.zeros(3).to_sparse(), ValueError, "dense contiguous"),
    (torch.empty(3, device="meta"), ValueError, "host memory.*meta"),   # not on the host (meta: no GPU needed)
    (torch.zeros(0, 4), ValueError, "empty"),
    (np.zeros(3), TypeError, "torch.Tensor, got ndarray"),
])
def test_check_host_tensor_names_the_problem(t, err, match):
    # pinning a strided view would register (and map) bytes outside it; an empty tensor has no pages; the
    # messages must say which of these it was, not fail later in cudaHostRegister
    with pytest.raises(err, match=match):
        unified._check_host_tensor(t)


def test_check_host_tensor_accepts_a_dense_host_tensor():
    unified._check_host_tensor(torch.arange(12.0).reshape(3, 4))  # no exception: the checks are not blanket


def test_unified_tensor_rejects_a_strided_view_before_registering(fake_cuda):
    # the public path: the check runs before cudaHostRegister, so nothing is pinned for a rejected tensor
    with pytest.raises(ValueError, match="contiguous"):
        UnifiedTensor(torch.arange(40.0).reshape(10, 4).T, None)
    assert fake_cuda.registered == {}


@pytest.mark.parametrize("slow, expected", [("triton", "index_select"), ("index_select", "triton")])
def test_auto_kernel_is_the_faster_on_the_table(monkeypatch, slow, expected):
    """pick_kernel times both kernels on the same rows and keeps the faster (the issue: Triton only where it beats
    index_select); without Triton, or when the timing fails, index_select. (Timings faked: no GPU here.)"""
    table = torch.arange(40.0).reshape(10, 4)
    monkeypatch.setattr(gather_kernel, "triton_available", lambda: True)
    monkeypatch.setattr(gather_kernel, "median_seconds", lambda fn, device, repeats, warmup: 2.0 if
                        fn.__defaults__[0] == slow else 1.0)
    assert gather_kernel.pick_kernel(table) == expected

    def broken(*a, **k):
        raise RuntimeError("no such kernel here")
    monkeypatch.setattr(gather_kernel, "median_seconds", broken)
    with pytest.warns(UserWarning, match="timing the gather kernels failed"):
        assert gather_kernel.pick_kernel(table) == "index_select"
    monkeypatch.setattr(gather_kernel, "triton_available", lambda: False)
    assert gather_kernel.pick_kernel(table) == "index_select"
