"""Row gather on the GPU from any CUDA-addressable table (GPU memory or a unified tensor's host memory).

``gather_rows(table, idx, kernel)`` returns ``table[idx]``. Kernels:

* ``index_select``: PyTorch's own.
* ``triton``: a small Triton kernel over the rows reinterpreted as 4-, 2- or 1-byte words, so every dtype is
  copied bit for bit and 16-byte aligned rows get vectorized 128-bit loads (Triton specializes integer
  arguments divisible by 16, which lets it prove alignment). Each program copies a BLOCK_R x BLOCK_C tile:
  whole rows (up to 1024 words each) stacked to ~4096 words, 16 KiB of int32, with 4 warps: 32 words per
  thread, eight 128-bit loads when vectorized (for 128 B rows: 128 rows per program, 8 threads per row).
* ``triton_wide`` / ``triton_narrow``: the same kernel with other tiles (:data:`TRITON_SHAPES`): 4x the words per
  program and 8 warps (more loads in flight per thread and per program), or 1/4 of them with 2 warps (4x the
  programs: a small call spreads over every SM). For benchmarks that compare them; ``triton`` is the default.
* ``auto``: ``triton`` when Triton is importable and works here, else ``index_select``. The feature stores
  resolve ``auto`` once per table with :func:`pick_kernel`: the Triton kernel only where it beats ``index_select``.

Triton is imported lazily (it is absent on CPU-only machines); a failed Triton launch warns once and falls back
(for the rest of the process). Running out of GPU memory is not a Triton failure: it is raised as is.
Indices must be in range: the Triton kernel does not bounds-check (``index_select`` does).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings

import torch

from ..timing import median_seconds


@dataclasses.dataclass(frozen=True)
class TritonShape:
    """How the Triton gather tiles its work: each program copies ``tile_words`` words at most (whole rows of up
    to ``chunk_words`` words; wider rows are split into column blocks) with ``num_warps`` warps."""
    tile_words: int
    chunk_words: int
    num_warps: int


TRITON_SHAPES = {
    "triton": TritonShape(4096, 1024, 4),  # the default since the first GPU run
    "triton_wide": TritonShape(16384, 1024, 8),
    "triton_narrow": TritonShape(1024, 256, 2),
}
KERNELS = ("index_select", *TRITON_SHAPES, "auto")
_TRITON_BROKEN: list[str] = []  # the reason, once a launch failed


@functools.lru_cache(maxsize=1)
def _triton_kernel():
    """The jitted kernel, or None when Triton is not installed."""
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return None

    @triton.jit
    def _gather(src, idx, out, n_rows, row_words, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
        rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
        cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
        rmask = rows < n_rows
        src_rows = tl.load(idx + rows, mask=rmask, other=0).to(tl.int64)  # int64: tables over 2^31 words
        mask = rmask[:, None] & (cols < row_words)[None, :]
        vals = tl.load(src + src_rows[:, None] * row_words + cols[None, :], mask=mask)
        tl.store(out + rows.to(tl.int64)[:, None] * row_words + cols[None, :], vals, mask=mask)

    return triton, _gather


def triton_available() -> bool:
    return _triton_kernel() is not None and not _TRITON_BROKEN


def _as_words(t: torch.Tensor) -> torch.Tensor:
    """(N, ...) contiguous -> (N, W) of the widest word (int32/int16/uint8) dividing the row size."""
    n = t.shape[0]
    row_bytes = t[0].numel() * t.element_size() if n else t.element_size()
    raw = t.reshape(n, -1).view(torch.uint8)
    for dtype, size in ((torch.int32, 4), (torch.int16, 2)):
        if row_bytes % size == 0:
            return raw.view(dtype)
    return raw


def _triton_gather(table: torch.Tensor, idx: torch.Tensor,
                   shape: TritonShape = TRITON_SHAPES["triton"]) -> torch.Tensor:
    triton, kernel = _triton_kernel()
    if table.device != idx.device:
        raise ValueError(f"table on {table.device} but indices on {idx.device}: gather on one device")
    idx = idx.contiguous()  # the kernel reads idx[i] at idx + i: a strided index would be misread
    out = torch.empty((idx.numel(),) + tuple(table.shape[1:]), dtype=table.dtype, device=idx.device)
    if idx.numel() == 0 or out.numel() == 0:
        return out
    src, dst = _as_words(table), _as_words(out)
    row_words = src.shape[1]
    block_c = min(triton.next_power_of_2(row_words), shape.chunk_words)
    block_r = max(1, shape.tile_words // block_c)  # default: ~16 KiB of int32 per program
    grid = (triton.cdiv(idx.numel(), block_r), triton.cdiv(row_words, block_c))
    # Triton launches on the *current* device and its current stream: make that the tensors' device (a kernel
    # for cuda:1 launched on cuda:0 would read cuda:1's addresses from the wrong GPU)
    # (CPU tensors only under TRITON_INTERPRET=1, Triton's interpreter: how the tests check this kernel on a CPU)
    with torch.cuda.device(idx.device) if idx.is_cuda else contextlib.nullcontext():
        kernel[grid](src, idx, dst, idx.numel(), row_words, BLOCK_R=block_r, BLOCK_C=block_c,
                     num_warps=shape.num_warps)
    return out


def gather_rows(table: torch.Tensor, idx: torch.Tensor, kernel: str = "auto") -> torch.Tensor:
    """``table[idx]`` on the GPU. table: (N, ...) contiguous CUDA-addressable; idx: (B,) int64 on the same
    device. Returns (B, ...) in GPU memory, same dtype, bit-identical to ``table.index_select(0, idx)``."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown gather kernel {kernel!r}; known: {list(KERNELS)}")
    if kernel == "index_select" or (kernel == "auto" and not triton_available()):
        return table.index_select(0, idx)
    if _triton_kernel() is None:
        raise RuntimeError(f"gather kernel {kernel!r} was asked for, but Triton is not installed")
    try:
        return _triton_gather(table, idx, TRITON_SHAPES["triton" if kernel == "auto" else kernel])
    except torch.OutOfMemoryError:  # the output did not fit: index_select would not fit either; Triton is fine
        raise
    except Exception as exc:  # noqa: BLE001 - any Triton failure (compile, pointer check) -> the safe path
        if kernel != "auto":  # a Triton kernel asked for by name: its failure is the answer
            raise
        if not _TRITON_BROKEN:
            warnings.warn(f"Triton gather failed ({type(exc).__name__}: {exc}); using index_select", stacklevel=2)
            _TRITON_BROKEN.append(str(exc))
        return table.index_select(0, idx)


def pick_kernel(table: torch.Tensor, rows: int = 4096, repeats: int = 5) -> str:
    """What ``auto`` should be on ``table`` (CUDA-addressable): the faster of ``index_select`` and ``triton``, each
    timed on the same ``rows`` random rows (median of ``repeats`` after two warm-up calls); ``index_select`` where
    Triton is not available, or where the timing itself fails (warned: the study goes on)."""
    if not triton_available() or not len(table):
        return "index_select"
    try:
        gen = torch.Generator(device=table.device).manual_seed(0)
        idx = torch.randint(len(table), (rows,), device=table.device, generator=gen)
        seconds = {k: median_seconds(lambda k=k: gather_rows(table, idx, k), table.device, repeats, warmup=2)
                   for k in ("index_select", "triton")}
    except torch.OutOfMemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed timing must not stop a run: the safe kernel
        warnings.warn(f"timing the gather kernels failed ({type(exc).__name__}: {exc}); using index_select",
                      stacklevel=2)
        return "index_select"
    return min(seconds, key=seconds.get)
