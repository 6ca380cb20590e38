"""Device selection: ``"auto"`` resolves once to CUDA when present, else CPU."""
from __future__ import annotations

import contextlib
import gc
import os

import torch


def check_device_spec(spec: str, name: str = "device") -> str:
    """``spec`` if it names a device ("auto", "cpu", "cuda", "cuda:N", ...), else a ValueError naming parameter
    ``name``. Availability is not checked here (a config may be written on a CPU for a GPU run)."""
    if spec != "auto":
        try:
            torch.device(spec)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"{name} must be 'auto' or a torch device name ('cpu', 'cuda', 'cuda:N', ...), "
                             f"got {spec!r}") from exc
    return spec


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> ``cuda:0`` if available else ``cpu``; an explicit CUDA device without CUDA raises."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    dev = torch.device(check_device_spec(spec))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {spec!r} was asked for, but this machine has no CUDA GPU; use device='auto' or 'cpu'")
    return dev


def require_cuda(what: str) -> None:
    """Raise a clear error when a GPU-only path runs without CUDA."""
    if not torch.cuda.is_available():
        raise RuntimeError(f"{what} needs a CUDA GPU, and none is available on this machine")


def release_cuda_memory() -> None:
    """Free what dropped objects still hold on the GPU before a memory measurement: a gc pass first (an
    out-of-memory error's traceback, or any reference cycle, keeps tensors alive until one), then the caching
    allocator's unused blocks. A no-op without CUDA."""
    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    import platform
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


@contextlib.contextmanager
def cpu_threads(n: int):
    """Run the block with ``n`` torch CPU threads (``n`` <= 0: unchanged), restoring the count afterwards.

    One thread is often fastest for the CPU-sized defaults: on a small shared machine intra-op threads that
    wait on each other make small kernels stall."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
