"""The largest batch that fits a GPU memory cap (NGAME's claim: in-batch negatives fit larger batches than
ANCE-style explicit negatives at the same memory). CUDA only."""
from __future__ import annotations

import torch

from ..device import release_cuda_memory, require_cuda


def largest_batch(try_batch, sizes: list[int], cap_fraction: float) -> dict:
    """Call ``try_batch(batch_size)`` (a few training steps) for ascending ``sizes`` under
    ``torch.cuda.set_per_process_memory_fraction(cap_fraction)``; stop at the first out-of-memory.

    Returns ``{"largest_batch", "cap_mib", "tried": [(size, ok)], "bounded"}``: ``bounded`` is False when no size
    ran out of memory, so the largest batch is only a lower bound (the largest size tried). The fraction is reset
    to 1.0 afterwards.
    """
    require_cuda("the memory-capped largest-batch measurement")
    dev = torch.device("cuda:0")
    total = torch.cuda.get_device_properties(dev).total_memory
    tried, best = [], 0
    torch.cuda.set_per_process_memory_fraction(cap_fraction, dev)
    try:
        for bs in sorted(sizes):
            release_cuda_memory()
            try:
                try_batch(bs)
                ok = True
            except torch.OutOfMemoryError:
                ok = False
            tried.append((bs, ok))
            if not ok:
                break
            best = bs
    finally:
        release_cuda_memory()
        torch.cuda.set_per_process_memory_fraction(1.0, dev)
    return {"largest_batch": best, "cap_mib": cap_fraction * total / 2**20, "tried": tried,
            "bounded": any(not ok for _, ok in tried)}
