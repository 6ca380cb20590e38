"""``largest_batch`` on a CPU with the CUDA calls faked: ascending sizes, stop at the first out-of-memory, the
memory fraction set to the cap and reset to 1.0 afterwards (also when ``try_batch`` raises something else).

Does not prove: that ``set_per_process_memory_fraction`` really limits allocations, nor any batch size on a
real GPU (that needs a lent GPU and the study's notebook).
"""
import types

import pytest
import torch

from workbench.xmc_train import capacity


@pytest.fixture
def fake_cuda(monkeypatch):
    calls = []
    monkeypatch.setattr(capacity, "require_cuda", lambda what: None)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda dev: types.SimpleNamespace(total_memory=2**30))
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction",
                        lambda frac, dev=None: calls.append(("fraction", frac)))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    return calls


def test_stops_at_the_first_oom_and_resets_the_fraction(fake_cuda):
    # sizes given out of order: tried ascending; 64 fails, so 128 is never tried (catches a sweep that goes on
    # after an OOM, reports the failing size, or leaves the cap in force)
    seen = []

    def try_batch(bs):
        seen.append(bs)
        if bs > 32:
            raise torch.OutOfMemoryError("fake OOM")

    out = capacity.largest_batch(try_batch, [128, 8, 32, 64, 16], cap_fraction=0.25)
    assert seen == [8, 16, 32, 64]
    assert out["largest_batch"] == 32 and out["tried"] == [(8, True), (16, True), (32, True), (64, False)]
    assert out["cap_mb"] == 0.25 * 1024
    assert fake_cuda == [("fraction", 0.25), ("fraction", 1.0)]


def test_other_errors_propagate_but_the_fraction_is_reset(fake_cuda):
    # only an OOM means "does not fit"; a bug in try_batch must surface, with the cap lifted
    def try_batch(bs):
        raise ValueError("a bug, not a memory limit")

    with pytest.raises(ValueError, match="a bug"):
        capacity.largest_batch(try_batch, [4], cap_fraction=0.5)
    assert fake_cuda[-1] == ("fraction", 1.0)


def test_nothing_fits(fake_cuda):
    out = capacity.largest_batch(lambda bs: (_ for _ in ()).throw(torch.OutOfMemoryError("oom")), [4, 8], 0.5)
    assert out["largest_batch"] == 0 and out["tried"] == [(4, False)]
