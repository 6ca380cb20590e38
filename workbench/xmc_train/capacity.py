"""The largest batch that fits a GPU memory cap (NGAME's claim: in-batch negatives fit larger batches than
ANCE-style explicit negatives at the same memory). CUDA only."""
from __future__ import annotations

import torch

from ..device import release_cuda_memory, require_cuda


def largest_batch(try_batch, sizes: list[int], cap_fraction: float, refine: int = 0) -> dict:
    """Call ``try_batch(batch_size)`` (a few training steps) for ascending ``sizes`` under
    ``torch.cuda.set_per_process_memory_fraction(cap_fraction)``; stop at the first out-of-memory, then bisect
    ``refine`` times between the largest size that fitted and that one (each halves the bracket: powers of two
    refined twice read the largest batch to within 25%).

    Returns ``{"largest_batch", "cap_mib", "tried": [(size, ok)], "bounded"}``: ``bounded`` is False when no size
    ran out of memory, so the largest batch is only a lower bound (the largest size tried). The fraction is reset
    to 1.0 afterwards.
    """
    require_cuda("the memory-capped largest-batch measurement")
    dev = torch.device("cuda:0")
    total = torch.cuda.get_device_properties(dev).total_memory
    tried = []

    def fits(bs: int) -> bool:
        release_cuda_memory()
        try:
            try_batch(bs)
            ok = True
        except torch.OutOfMemoryError:
            ok = False
        tried.append((bs, ok))
        return ok

    best, failed = 0, 0
    torch.cuda.set_per_process_memory_fraction(cap_fraction, dev)
    try:
        for bs in sorted(sizes):
            if not fits(bs):
                failed = bs
                break
            best = bs
        for _ in range(refine if best and failed else 0):
            mid = (best + failed) // 2
            if mid == best:
                break
            best, failed = (mid, failed) if fits(mid) else (best, mid)
    finally:
        release_cuda_memory()
        torch.cuda.set_per_process_memory_fraction(1.0, dev)
    return {"largest_batch": best, "cap_mib": cap_fraction * total / 2**20, "tried": tried,
            "bounded": any(not ok for _, ok in tried)}
