"""Feature stores: one protocol, one registry. A store holds an (N, F) node-feature table and returns the rows
of a mini-batch's input nodes on the compute device.

* ``cpu``: CPU threads gather rows into a pinned staging buffer, then one asynchronous copy of the whole batch
  on a side stream: within a batch the copy starts after the gather, they do not overlap. ``gather`` returns
  once the copy is queued, and two staging buffers alternate, so a caller that does not wait could gather the
  next batch while this one is copied; the study's loader does wait after each gather (it times gather + copy),
  so in training the overlap comes from its prefetch thread (``overlap=True``): batch i+1 is sampled, gathered
  and copied while batch i computes. On a CPU-only machine: the threaded gather alone.
* ``zero_copy``: the table stays in host memory as a unified tensor; a GPU kernel gathers the rows over PCIe,
  in sorted index order (ascending addresses, fewer partially used PCIe reads), scattered back on the GPU.
* ``gpu``: the whole table in GPU memory (the upper bound, when it fits).
* ``auto``: one of the above by :mod:`policy`'s rule (``cpu`` or ``zero_copy`` per call, by its rows).
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ..device import require_cuda, resolve_device, with_index
from ..registry import Registry
from .gather_kernel import KERNELS, gather_rows, pick_kernel
from .policy import AutoPolicy, choose, free_gpu_bytes, host_choice
from .threads import default_gather_threads
from .unified import ViewsAliveError

STORES: Registry = Registry("feature store")


@dataclasses.dataclass(frozen=True)
class StoreOptions:
    gather_threads: int = 0  # cpu store: gather threads (0 = the cores torch's intra-op pool leaves free)
    sort_indices: bool = True  # zero_copy: gather in ascending row order, scatter back on the GPU
    kernel: str = "auto"  # zero_copy/gpu gather: one of gather_kernel.KERNELS (auto: the faster on the table)
    policy: AutoPolicy = AutoPolicy()

    def __post_init__(self):
        if self.kernel not in KERNELS:
            raise ValueError(f"unknown gather kernel {self.kernel!r}; known: {list(KERNELS)}")
        if self.gather_threads < 0:
            raise ValueError(f"gather_threads must be >= 0, got {self.gather_threads}")


@runtime_checkable
class FeatureStore(Protocol):
    name: str
    needs_cuda: bool  # class attribute: False only where the store also runs on CPU-only machines
    device: torch.device
    threads: int  # CPU threads the store gathers with (0: the GPU gathers); recorded with every measurement

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        """idx: (B,) int64 row ids in [0, rows) on any device -> (B, F) rows on ``self.device`` (same dtype as
        the table). Ids are not bounds-checked on the GPU paths (the Triton gather reads what it is told)."""
        ...

    def close(self) -> None:
        """Free GPU memory, pinned buffers and registrations now."""
        ...


def _gpu_device(device: str | torch.device) -> torch.device:
    """``device`` resolved, with an explicit index (a bare ``"cuda"`` means the current device, fixed now, so
    that the table, the unified view and every gather agree on one GPU)."""
    return with_index(resolve_device(device))


def _check_table(table: torch.Tensor) -> None:
    if table.device.type != "cpu" or table.dim() < 1 or not table.is_contiguous():
        raise ValueError("a feature store takes a contiguous (N, F) host tensor; got "
                         f"{tuple(table.shape)} on {table.device}, contiguous={table.is_contiguous()}")


def _byte_rows(t: torch.Tensor) -> np.ndarray:
    """(N, ...) contiguous host tensor -> (N, row bytes) uint8 numpy array over the same memory (any dtype)."""
    return t.reshape(t.shape[0], math.prod(t.shape[1:])).view(torch.uint8).numpy()


@STORES.register("cpu")
class CPUStore:
    """Threaded CPU gather (+ pinned staging and asynchronous copy when the device is a GPU).

    ``threads`` gather threads (``options.gather_threads``; 0: the cores torch's intra-op pool leaves free, see
    :mod:`threads`). Each copies its share of the rows with numpy's ``take`` on the raw bytes: serial within the
    thread and without the GIL, so gather threads never fan out into torch's intra-op pool (G x T threads).
    """
    name, needs_cuda = "cpu", False
    _MIN_BYTES_PER_THREAD = 1 << 18  # below ~256 KiB a thread hand-off costs more than it saves

    def __init__(self, table: torch.Tensor, device: str | torch.device = "auto",
                 options: StoreOptions = StoreOptions()):
        _check_table(table)
        self.table, self.device = table, _gpu_device(device)
        self._rows = _byte_rows(table)
        self.threads = options.gather_threads or default_gather_threads(torch.get_num_threads())
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="gather") if self.threads > 1 else None
        self._cuda = self.device.type == "cuda"
        if self._cuda:
            self._stream = torch.cuda.Stream(self.device)
            self._staging: list[torch.Tensor | None] = [None, None]
            self._done = [torch.cuda.Event(), torch.cuda.Event()]
            self._turn = 0

    def _gather_into(self, idx: torch.Tensor, out: torch.Tensor) -> None:
        """out[i] = table[idx[i]]; rows split into one contiguous chunk per thread. idx: (B,) int64 on the CPU."""
        ids, dst = idx.numpy(), _byte_rows(out)
        b, n = ids.size, self._rows.shape[0]
        if b == 0 or dst.shape[1] == 0:
            return
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= n:
            raise IndexError(f"row index out of range for a table of {n} rows: min {lo}, max {hi}")
        # mode="clip" after the range check above: with the default mode="raise" numpy buffers ``out``
        parts = min(self.threads, b, max(1, b * dst.shape[1] // self._MIN_BYTES_PER_THREAD))
        if self._pool is None or parts < 2:
            np.take(self._rows, ids, axis=0, out=dst, mode="clip")
            return
        bounds = [b * k // parts for k in range(parts + 1)]
        jobs = [self._pool.submit(np.take, self._rows, ids[s:e], axis=0, out=dst[s:e], mode="clip")
                for s, e in zip(bounds[:-1], bounds[1:]) if e > s]
        for j in jobs:
            j.result()

    def _staging_buffer(self, b: int) -> torch.Tensor:
        k = self._turn
        self._done[k].synchronize()  # the copy that last read this buffer has finished
        buf = self._staging[k]
        if buf is None or buf.shape[0] < b:
            buf = torch.empty((max(b, 1),) + tuple(self.table.shape[1:]), dtype=self.table.dtype, pin_memory=True)
            self._staging[k] = buf
        return buf[:b]

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.to("cpu", torch.int64).contiguous()
        if not self._cuda:
            out = torch.empty((idx.numel(),) + tuple(self.table.shape[1:]), dtype=self.table.dtype)
            self._gather_into(idx, out)
            return out
        staging = self._staging_buffer(idx.numel())
        self._gather_into(idx, staging)
        compute = torch.cuda.current_stream(self.device)
        with torch.cuda.stream(self._stream):  # allocated and copied on the side stream: no wait on compute
            out = torch.empty(staging.shape, dtype=staging.dtype, device=self.device)
            out.copy_(staging, non_blocking=True)
            self._done[self._turn].record(self._stream)
        compute.wait_event(self._done[self._turn])  # compute reads out only after the copy
        out.record_stream(compute)  # and its memory is not reused while compute may still read it
        self._turn ^= 1
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._cuda:
            for ev in self._done:
                ev.synchronize()
            self._staging = [None, None]


@STORES.register("zero_copy")
class ZeroCopyStore:
    """GPU gather straight from pinned, mapped host memory (the table is never copied to the GPU)."""
    name, needs_cuda, threads = "zero_copy", True, 0

    def __init__(self, table: torch.Tensor, device: str | torch.device = "auto",
                 options: StoreOptions = StoreOptions()):
        require_cuda("the zero_copy feature store")
        _check_table(table)
        from .unified import UnifiedTensor
        self.device = _gpu_device(device)
        self.unified = UnifiedTensor(table, self.device)
        self.sort = options.sort_indices
        self.kernel = pick_kernel(self.unified.view) if options.kernel == "auto" else options.kernel

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.to(self.device, torch.int64, non_blocking=True)
        if not self.sort:
            return gather_rows(self.unified.view, idx, self.kernel)
        sorted_idx, perm = torch.sort(idx)
        rows = gather_rows(self.unified.view, sorted_idx, self.kernel)
        return torch.empty_like(rows).index_copy_(0, perm, rows)  # row i of the answer = table[idx[i]]

    def close(self) -> None:
        """Unregister the table now. CUDA views still alive (e.g. in the traceback of an exception being
        handled) get a warning, not an error that would mask that exception: the registration ends with them."""
        unified, self.unified = self.unified, None
        if unified is not None:
            try:
                unified.release()
            except ViewsAliveError as exc:
                warnings.warn(f"closing the zero_copy store: {exc}", RuntimeWarning, stacklevel=2)


@STORES.register("gpu")
class GPUStore:
    """The whole table copied once into GPU memory; a plain on-device gather."""
    name, needs_cuda, threads = "gpu", True, 0

    def __init__(self, table: torch.Tensor, device: str | torch.device = "auto",
                 options: StoreOptions = StoreOptions()):
        require_cuda("the gpu feature store")
        _check_table(table)
        self.device = _gpu_device(device)
        self.table = table.to(self.device)
        self.kernel = pick_kernel(self.table) if options.kernel == "auto" else options.kernel

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        return gather_rows(self.table, idx.to(self.device, torch.int64, non_blocking=True), self.kernel)

    def close(self) -> None:
        self.table = None
        torch.cuda.empty_cache()


@STORES.register("auto")
class AutoStore:
    """Picks by :mod:`policy`'s rule: ``gpu`` (or ``cpu`` without CUDA) once for the table; otherwise, per call,
    ``zero_copy`` or ``cpu`` by the rows in the call, both over the one host table (the zero-copy store pins it
    in place; the CPU store reads the same memory). Only the stores some call size can pick are built.
    ``chosen`` says which: one name, or the names the calls so far went to joined by "+" ("cpu|zero_copy"
    before any call); ``calls`` counts the calls per store. If the ``gpu`` store runs out of memory while copying
    the table, the host stores serve instead (a RuntimeWarning says so)."""
    name, needs_cuda = "auto", False

    def __init__(self, table: torch.Tensor, device: str | torch.device = "auto",
                 options: StoreOptions = StoreOptions()):
        _check_table(table)
        self.device = _gpu_device(device)
        self.policy = options.policy
        self.row_bytes = table[0].numel() * table.element_size() if table.shape[0] else 0
        self.table_bytes = table.numel() * table.element_size()
        free = free_gpu_bytes(self.device, options.policy.gpu_memory_cap_bytes)
        first = choose(self.table_bytes, self.row_bytes, free, options.policy)
        self.names = (first,) if first == "gpu" or free is None else tuple(sorted(
            options.policy.host_stores(self.table_bytes, self.row_bytes)))
        self.inner: dict[str, FeatureStore] = {}
        self.calls: dict[str, int] = {}
        try:
            self._build(table, options)
        except BaseException:
            self.close()
            raise

    def _build(self, table: torch.Tensor, options: StoreOptions) -> None:
        """The stores in ``names``. Where the all-in-GPU copy runs out of memory after all (the free memory
        seen by the rule is shared with other allocations and fragmented), the host stores serve instead."""
        try:
            self._build_names(table, options)
        except torch.OutOfMemoryError as exc:
            if self.names != ("gpu",):
                raise
            torch.cuda.empty_cache()  # nothing of the failed copy stays cached
            self.names = tuple(sorted(self.policy.host_stores(self.table_bytes, self.row_bytes)))
            why = str(exc).partition("\n")[0][:200]  # torch's message goes on for lines about the allocator
            warnings.warn(f"auto store: the table ({self.table_bytes / 2**20:.1f} MiB) does not fit in GPU memory "
                          f"({why}); using {'|'.join(self.names)} instead", RuntimeWarning, stacklevel=3)
            self._build_names(table, options)

    def _build_names(self, table: torch.Tensor, options: StoreOptions) -> None:
        """The stores in ``names``; where zero-copy is refused (host registration, no UVA) the CPU store serves
        every call."""
        for n in self.names:
            try:
                self.inner[n] = STORES.get(n)(table, self.device, options)
            except RuntimeError as exc:
                if n != "zero_copy":
                    raise
                warnings.warn(f"auto store: zero_copy unavailable ({exc}); every call goes to the cpu store",
                              RuntimeWarning, stacklevel=4)
                self.names = ("cpu",)
                if "cpu" not in self.inner:
                    self.inner["cpu"] = CPUStore(table, self.device, options)
                return

    def pick(self, rows: int) -> str:
        """The store a call of ``rows`` rows goes to."""
        if len(self.names) == 1:
            return self.names[0]
        return host_choice(self.table_bytes, self.row_bytes, self.policy, rows)

    @property
    def chosen(self) -> str:
        if len(self.names) == 1:
            return self.names[0]
        return "+".join(sorted(self.calls)) or "|".join(self.names)

    @property
    def threads(self) -> int:
        return max((s.threads for s in self.inner.values()), default=0)

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        name = self.pick(idx.numel())
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.inner[name].gather(idx)

    def close(self) -> None:
        inner, self.inner = self.inner, {}
        for s in inner.values():
            s.close()


def make_store(name: str, table: torch.Tensor, device: str | torch.device = "auto",
               options: StoreOptions = StoreOptions()) -> FeatureStore:
    """The registered store ``name`` over ``table``; unknown names raise listing the known ones."""
    return STORES.get(name)(table, device, options)


def runnable_stores(device: torch.device) -> list[str]:
    """Registered stores that can run on ``device`` (CUDA-only ones need a CUDA device)."""
    return [n for n in STORES.names() if device.type == "cuda" or not STORES.get(n).needs_cuda]
