"""Unified tensor: refuses clearly without CUDA / for bad input; on a GPU it aliases host memory, pins and
unpins in place, gathers bit for bit like the CPU, and leaks nothing over many create/destroy cycles.

The GPU tests run only on a lent GPU. Not proven: PCIe efficiency (the microbenchmark measures that).
"""
import gc

import pytest
import torch

from tests.conftest import HAS_CUDA, only_cuda
from workbench.gpu_access.gather_kernel import gather_rows, triton_available
from workbench.gpu_access.unified import UnifiedTensor, pin_in_place, to_unified

# GPU tests carry the ``cuda`` mark as well as the skip: scripts/gpu_checks.sh selects them with ``pytest -m cuda``.
# ``only_cuda`` (tests/conftest.py) adds both; a test with its own CUDA skipif adds the mark by hand (the conftest
# refuses such a test without it).

ROW_BYTES = [1, 2, 3, 4, 12, 16, 100, 128, 132, 512, 4096, 4100]
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int8, torch.int32, torch.int64,
          torch.uint8, torch.bool]


@pytest.mark.skipif(HAS_CUDA, reason="checks the CPU-only refusal")
def test_refuses_clearly_without_cuda():
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        to_unified(torch.zeros(4, 4))
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        pin_in_place(torch.zeros(4))


@only_cuda
def test_refuses_non_contiguous_and_device_tensors():
    with pytest.raises(ValueError, match="contiguous"):
        to_unified(torch.zeros(8, 8).t())
    with pytest.raises(ValueError, match="host memory"):
        to_unified(torch.zeros(8, device="cuda"))
    with pytest.raises(ValueError, match="empty"):
        to_unified(torch.zeros(0, 3))


@only_cuda
def test_pin_and_unpin_in_place():
    t = torch.arange(1 << 16, dtype=torch.float32)
    ptr = t.data_ptr()
    assert not t.is_pinned()
    reg = pin_in_place(t)
    assert t.is_pinned() and t.data_ptr() == ptr  # same buffer: nothing was copied
    reg.unpin()
    reg.unpin()  # exactly once: the second call does nothing
    assert not t.is_pinned() and t.data_ptr() == ptr


@only_cuda
def test_view_aliases_host_memory():
    host = torch.zeros(1000, 64)
    ut = to_unified(host)
    idx = torch.tensor([3, 999, 3], device="cuda")
    assert float(ut[idx].abs().sum()) == 0.0
    host[3] = 7.0  # a host write ...
    host[999] = -1.0
    got = ut[idx]  # ... is seen by the next GPU gather: no copy was made
    assert got.device.type == "cuda"
    assert torch.equal(got.cpu(), host[idx.cpu()])
    ut.view[5, 0] = 42.0  # and a GPU write lands in host memory
    torch.cuda.synchronize()
    assert host[5, 0] == 42.0


@only_cuda
def test_view_keeps_host_buffer_alive():
    host = torch.arange(4096, dtype=torch.float32).reshape(64, 64)
    expected = host.clone()
    ut = to_unified(host)
    view = ut.view
    del host, ut
    gc.collect()
    torch.cuda.synchronize()
    assert torch.equal(view.cpu(), expected)  # the buffer outlived every other reference


@only_cuda
def test_release_refuses_while_views_are_alive():
    host = torch.ones(128, 8)
    ut = to_unified(host)
    derived = ut.view[10:20]
    with pytest.raises(RuntimeError, match="still alive"):
        ut.release()
    assert host.is_pinned()  # still registered: the derived view must not dangle
    del derived
    gc.collect()
    assert not host.is_pinned()  # unregistered when the last view died


@only_cuda
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row_bytes", ROW_BYTES)
@pytest.mark.parametrize("kernel", ["index_select", "triton"])
def test_zero_copy_gather_bit_for_bit(dtype, row_bytes, kernel):
    if kernel == "triton" and not triton_available():
        pytest.skip("Triton is not installed")
    size = torch.empty((), dtype=dtype).element_size()
    if row_bytes % size:
        pytest.skip("row size not a multiple of the element size")
    width = row_bytes // size
    gen = torch.Generator().manual_seed(row_bytes)
    raw = torch.randint(0, 256, (777, width * size), dtype=torch.uint8, generator=gen)
    host = raw.view(dtype).contiguous() if dtype != torch.bool else (raw % 2).bool()
    ut = to_unified(host)
    idx = torch.randint(777, (1025,), generator=gen)
    got = gather_rows(ut.view, idx.cuda(), kernel)
    assert torch.equal(got.cpu().view(torch.uint8), host[idx].view(torch.uint8))  # bits, NaNs included


@only_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("row_bytes", [4, 128, 132, 4100])
@pytest.mark.parametrize("kernel", ["triton_wide", "triton_narrow"])
def test_other_triton_tiles_bit_for_bit(dtype, row_bytes, kernel):
    """The benchmark's alternative tiles (more or fewer words per program) gather the same bits from host memory
    as index_select; 4100 B rows span several column blocks of either tile."""
    if not triton_available():
        pytest.skip("Triton is not installed")
    if row_bytes % torch.empty((), dtype=dtype).element_size():
        pytest.skip("row size not a multiple of the element size")
    gen = torch.Generator().manual_seed(row_bytes)
    host = torch.randint(0, 256, (513, row_bytes), dtype=torch.uint8, generator=gen).view(dtype).contiguous()
    ut = to_unified(host)
    idx = torch.randint(513, (2049,), generator=gen).cuda()
    got = gather_rows(ut.view, idx, kernel)
    assert torch.equal(got.view(torch.uint8), gather_rows(ut.view, idx, "index_select").view(torch.uint8))
    # bits, not values: random bytes viewed as float32 hold NaNs, which torch.equal never calls equal
    assert torch.equal(got.cpu().view(torch.uint8), host[idx.cpu()].view(torch.uint8))


@only_cuda
@pytest.mark.parametrize("kernel", ["index_select", "triton"])
def test_gather_with_a_strided_index(kernel):
    """An index that is a non-contiguous view (stride 2) is read element by element, not as raw memory."""
    if kernel == "triton" and not triton_available():
        pytest.skip("Triton is not installed")
    host = torch.randn(300, 24)
    ut = to_unified(host)
    pairs = torch.randint(300, (100, 2), generator=torch.Generator().manual_seed(1))
    idx = pairs.cuda()[:, 0]
    assert not idx.is_contiguous()
    assert torch.equal(gather_rows(ut.view, idx, kernel).cpu(), host[pairs[:, 0]])


@only_cuda
def test_no_leak_over_many_cycles():
    def cycle():
        host = torch.randn(2048, 256)
        ut = UnifiedTensor(host)
        s = float(ut[torch.arange(0, 2048, 7, device="cuda")].sum())
        ut.release()
        assert not host.is_pinned()
        return s

    cycle()
    gc.collect()  # earlier tests' garbage, freed during this one, would read as memory given back
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    for _ in range(300):
        cycle()
    for _ in range(50):  # and without release(): garbage collection unregisters
        host = torch.randn(512, 64)
        view = to_unified(host).view
        del view
        gc.collect()
        assert not host.is_pinned()
    torch.cuda.synchronize()
    # a leak grows (the 300 cycles' gathered rows alone are ~88 MB); the first H100 run read 8.7 MB less than
    # before, other tests' tensors freed meanwhile: hence <=, after the gc.collect() above
    assert torch.cuda.memory_allocated() <= before


@only_cuda
def test_view_lives_on_the_named_device_and_pinned_input_is_mapped_as_is():
    host = torch.randn(64, 16)
    ut = to_unified(host, "cuda")  # a bare "cuda" is fixed to the current device's index
    assert ut.device == ut.view.device == torch.device("cuda", torch.cuda.current_device())
    assert ut.view.data_ptr() == host.data_ptr()  # zero-copy, not a device copy
    ut.release()
    buffer = torch.randn(64, 16)
    reg = pin_in_place(buffer)
    part = buffer[8:40]  # covered by one registration of ours: borrowed, not registered again
    pu = to_unified(part)
    assert not pu.registered and pu.view.data_ptr() == part.data_ptr()
    assert torch.equal(pu[torch.tensor([5, 1])].cpu(), part[[5, 1]])
    pu.release()
    assert buffer.is_pinned()  # the owner's registration outlives the borrower's release
    reg.unpin()
    with pytest.raises(ValueError, match="already .*pinned"):  # extent and lifetime of torch's pin unknown here
        to_unified(torch.randn(64, 16).pin_memory())


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA or torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_second_gpu_gets_its_own_view_and_a_mismatch_is_refused():
    host = torch.randn(256, 32)
    with torch.cuda.device(0):  # the current device is not the one asked for
        ut = to_unified(host, "cuda:1")
        assert ut.view.device == torch.device("cuda", 1) and ut.view.data_ptr() == host.data_ptr()
        idx = torch.tensor([3, 255, 0], device="cuda:1")
        assert torch.equal(gather_rows(ut.view, idx, "auto").cpu(), host[idx.cpu()])
    ut.release()
    pinned_on_0 = torch.randn(8, 8)
    reg = pin_in_place(pinned_on_0, "cuda:0")
    with pytest.raises(RuntimeError, match="mapped for cuda:0, not cuda:1"):
        to_unified(pinned_on_0, "cuda:1")
    reg.unpin()
