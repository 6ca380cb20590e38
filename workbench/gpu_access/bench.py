"""Microbenchmarks: the pinned host-to-device copy ceiling and gather throughput per feature store.

Timing: ``warmup`` untimed calls, then the median of ``repeats`` timed calls, each ended by synchronizing the
device (so a GPU gather is counted complete). Row indices come from a pool of ``warmup + repeats`` draws:
each timed call gets a draw of its own, and the warm-up (``warmup`` calls, then :data:`WARMUP_S` seconds of
calls) cycles over the first ``warmup`` draws, so a timed call never finds its rows in a cache left by an
earlier call. Throughput counts useful bytes only: rows x row bytes / seconds, in GB/s (1e9 bytes);
``gbps_unique`` counts each distinct row once (what must cross the link at least), and ``l2_bound`` flags
measurements that caches can flatter: a call asking for more bytes than the table holds (duplicates, served from the
GPU's L2 after the first read) or a table no larger than the GPU's L2. Indices are handed to each store on its
natural device (CPU for ``cpu``, the GPU for the GPU-side stores), as a sampler on that device would produce them.

Variants, for comparing gather implementations side by side in one run (:func:`gather_sweep`): ``kernels``
(the zero_copy and gpu stores' gather kernel), ``sorts`` (zero_copy: sort indices first or not), ``offsets``
(where the table starts past a page boundary: 0 puts every 128 B row on one 128 B line, 64 -- where glibc puts
large allocations -- splits each across two) and ``pages`` (transparent huge pages asked for or refused).
"""
from __future__ import annotations

import ctypes
import dataclasses
import itertools
import mmap
import platform
import warnings

import numpy as np
import torch

from ..device import host_memory_available
from ..progress import tqdm
from ..timing import median_seconds
from .gather_kernel import KERNELS
from .stores import STORES, StoreOptions, make_store
from .unified import ViewsAliveError, pin_in_place

PAGE = mmap.PAGESIZE
HUGE_PAGE = 2 << 20
PAGES = ("default", "huge", "small")  # the kernel's THP policy as is, madvise(MADV_HUGEPAGE), madvise(MADV_NOHUGEPAGE)
_MADVISE = {"huge": 14, "small": 15}
GPU_GATHER_STORES = ("zero_copy", "gpu")  # the stores whose gather kernel ``kernels`` varies


def h2d_bandwidth(nbytes: int, device: torch.device, repeats: int = 10, warmup: int = 2) -> dict | None:
    """Pinned host -> GPU copy of ``nbytes``: the physical ceiling of any gather from host memory.
    One tidy row (bytes, seconds, gbps), or None on a CPU device (there is no host-to-device link)."""
    if device.type != "cuda":
        return None
    src = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True).fill_(1)
    dst = torch.empty(nbytes, dtype=torch.uint8, device=device)
    s = median_seconds(lambda: dst.copy_(src, non_blocking=True), device, repeats, warmup)
    return {"measure": "h2d_pinned_copy", "bytes": nbytes, "seconds": s, "gbps": nbytes / s / 1e9}


def make_buffer(table_bytes: int) -> torch.Tensor:
    """``table_bytes`` of host memory, every page written (untouched pages would all map the zero page)."""
    return torch.empty(max(1, table_bytes), dtype=torch.uint8).fill_(1)


def anon_huge_bytes() -> int | None:
    """This process's anonymous memory backed by transparent huge pages (Linux), or None where unknown."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def aligned_buffer(nbytes: int, pages: str = "default") -> torch.Tensor:
    """``nbytes`` of host memory starting on a page boundary (a 2 MiB one unless ``pages`` is "default"), every
    page written; ``pages`` "huge"/"small" ask the kernel for / against transparent huge pages before the first
    write (madvise; ValueError where that is refused)."""
    if pages not in PAGES:
        raise ValueError(f"pages must be one of {list(PAGES)}, got {pages!r}")
    align = PAGE if pages == "default" else HUGE_PAGE
    # whole pages past the start, so that the last page registered is this buffer's alone (CUDA registers pages)
    raw = torch.empty(-(-max(1, nbytes) // PAGE) * PAGE + align, dtype=torch.uint8)
    start = -raw.data_ptr() % align
    buf = raw[start:start + max(1, nbytes)]
    if pages != "default":
        if platform.system() != "Linux":
            raise ValueError(f"pages={pages!r} needs Linux (madvise)")
        libc = ctypes.CDLL(None, use_errno=True)
        length = -(-buf.numel() // PAGE) * PAGE
        if libc.madvise(ctypes.c_void_p(buf.data_ptr()), ctypes.c_size_t(length), _MADVISE[pages]) != 0:
            raise ValueError(f"madvise({pages}) refused: errno {ctypes.get_errno()}")
    return buf.fill_(1)


def table_view(buffer: torch.Tensor, row_bytes: int) -> torch.Tensor:
    """The first whole rows of ``buffer`` as a table with rows of exactly ``row_bytes``: float32 where the row
    size is a multiple of 4, else uint8 (no copy: one buffer serves every row size of a sweep)."""
    dtype = torch.float32 if row_bytes % 4 == 0 else torch.uint8
    n = max(1, buffer.numel() // row_bytes)
    if n * row_bytes > buffer.numel():
        raise ValueError(f"a {buffer.numel()} B buffer cannot hold a {row_bytes} B row")
    return buffer[: n * row_bytes].view(dtype).view(n, -1)


def make_table(table_bytes: int, row_bytes: int) -> torch.Tensor:
    """A host table of about ``table_bytes`` (at least one row) with rows of exactly ``row_bytes``."""
    return table_view(make_buffer(max(table_bytes, row_bytes)), row_bytes)


def _l2_bytes(device: torch.device) -> int:
    """The GPU's L2 cache size in bytes (0 on a CPU device or where torch cannot say)."""
    if device.type != "cuda":
        return 0
    try:
        return int(getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0))
    except (RuntimeError, AssertionError, AttributeError):
        return 0


def _distinct(idx: torch.Tensor) -> int:
    """How many distinct values a CPU index tensor holds (numpy's sort: torch's CPU sort is many times slower)."""
    s = np.sort(idx.numpy())
    return int(s.size > 0) + int(np.count_nonzero(s[1:] != s[:-1]))


def _indices(n: int, rows: int, order: str, gen: torch.Generator) -> torch.Tensor:
    idx = torch.randint(n, (rows,), generator=gen)
    if order == "sorted":
        return torch.from_numpy(np.sort(idx.numpy()))
    if order != "random":
        raise ValueError(f"order must be 'random' or 'sorted', got {order!r}")
    return idx


def _variants(name: str, options: StoreOptions, kernels: list[str], sorts: list[bool]) -> list[StoreOptions]:
    """The store options ``name`` is measured with: every kernel for the GPU-gather stores, every sort choice
    for zero_copy, the run's own options for the rest."""
    ks = kernels if name in GPU_GATHER_STORES else [options.kernel]
    ss = sorts if name == "zero_copy" else [options.sort_indices]
    return [dataclasses.replace(options, kernel=k, sort_indices=b) for k, b in itertools.product(ks, ss)]


def _picked(name: str, store, rows: int | None = None) -> str:
    """The store that gathers a call of ``rows`` rows: ``name``, or what ``auto`` picks for it."""
    pick = getattr(store, "pick", None)
    return name if pick is None else pick(rows)


def _variant_columns(name: str, store, options: StoreOptions, rows: int | None = None) -> dict:
    picked = name if store is None else _picked(name, store, rows)
    kernel = getattr(store, "kernel", options.kernel)  # a zero_copy or gpu store resolved "auto" on its table
    return {"kernel": kernel if picked in GPU_GATHER_STORES else "-",
            "sort": bool(options.sort_indices and picked == "zero_copy")}


def _index_pools(n: int, rows_list, orders, count: int, gen: torch.Generator) -> dict:
    """{(rows, order): (``count`` index draws on the CPU, median distinct rows per draw)} for a table of ``n``
    rows: drawn once per table and shared by every store and variant measured on it."""
    pools = {}
    for rows in rows_list:
        for order in orders:
            pool = [_indices(n, rows, order, gen) for _ in range(count)]
            pools[rows, order] = pool, sorted(_distinct(i) for i in pool)[count // 2]
    return pools


# Untimed gathering before each measurement, after the ``warmup`` calls. Without it the first store timed on a
# new row size came out 0.11-0.84 of the same store timed again right after another (CPU store, 2-core machine,
# warmup 1), whichever store came first; evicting the CPU caches between stores changed nothing, five warm-up
# calls or these 20 ms fixed it (0.61-1.57, noise): buffers of a new size start cold. The bias had been against
# the store listed first (``cpu`` in the study's defaults).
WARMUP_S = 0.02


def _one_store(name: str, table: torch.Tensor, device: torch.device, options: StoreOptions, pools: dict,
               repeats: int, warmup: int) -> list[dict]:
    try:
        store = make_store(name, table, device, options)
    except torch.OutOfMemoryError:
        return [{"store": name, **_variant_columns(name, None, options), "status": "does not fit in GPU memory"}]
    except RuntimeError as exc:  # e.g. host registration refused (locked-memory limit) or no UVA: not this store
        return [{"store": name, **_variant_columns(name, None, options), "status": f"unavailable: {exc}"}]
    rows_out = []
    row_bytes = table[0].numel() * table.element_size()
    table_bytes = table.numel() * table.element_size()
    l2 = _l2_bytes(device)
    try:
        for (rows, order), (draws, unique) in pools.items():
            picked = _picked(name, store, rows)
            gatherer = getattr(store, "inner", {}).get(picked, store)  # auto: the store this call size goes to
            threads = {"gather_threads": gatherer.threads, "torch_threads": torch.get_num_threads()}
            variant = {"chosen": picked, **_variant_columns(name, store, options, rows)}
            # indices where a sampler would hand them over: the CPU for a CPU gather, else the store's GPU
            home = torch.device("cpu") if picked == "cpu" else store.device
            pool = [i.to(home) for i in draws]
            # warm-up cycles over the first ``warmup`` draws; each timed call then gathers a draw of its own, never
            # read before, so no timed call finds its rows in a cache
            warm, timed = itertools.cycle(pool[:warmup]), iter(pool[warmup:])
            try:
                if warmup:
                    median_seconds(lambda: store.gather(next(warm)), device, repeats=1, warmup=warmup - 1,
                                   warmup_seconds=WARMUP_S)  # its one "timed" call is warm-up too
                s = median_seconds(lambda: store.gather(next(timed)), device, repeats, warmup=0)
            except Exception as exc:  # noqa: BLE001 - e.g. a Triton tile that does not compile here: say so, go on
                why = "out of GPU memory" if isinstance(exc, torch.OutOfMemoryError) else f"{type(exc).__name__}"
                rows_out.append({"store": name, **variant, "rows": rows, "order": order,
                                 "status": f"failed: {why}: {str(exc)[:300]}", **threads})
                break  # the next calls of this variant would fail alike
            rows_out.append({"store": name, **variant, "rows": rows, "order": order, "seconds": s,
                             "gbps": rows * row_bytes / s / 1e9,
                             "unique_rows": unique, "gbps_unique": unique * row_bytes / s / 1e9,
                             "l2_bound": rows * row_bytes > table_bytes or table_bytes <= l2,
                             "status": "ok", **threads})
            del pool, warm, timed
    finally:
        store.close()
    return rows_out


def _tables(table_bytes: int, row_bytes: list[int], offsets: list[int] | None, pages: str):
    """(buffer, [(bytes past a page boundary, the slice of ``buffer`` that offset's tables are cut from)]): with
    ``offsets`` None and default pages, one buffer where the allocator puts it (the study's default); else one
    buffer aligned as ``pages`` asks, ``max(offsets)`` bytes longer, sliced at each offset (default [0]), so
    that a single registration covers them all."""
    if offsets is None and pages == "default":
        buffer = make_buffer(max(table_bytes, max(row_bytes)))
        return buffer, [(buffer.data_ptr() % PAGE, buffer)]
    offsets = [0] if offsets is None else offsets
    size = max(table_bytes, max(row_bytes))
    buffer = aligned_buffer(size + max(offsets), pages)
    return buffer, [(off, buffer[off:off + size]) for off in offsets]


def gather_sweep(stores: list[str], row_bytes: list[int], table_bytes: list[int], rows_per_call: list[int],
                 orders: list[str], device: torch.device, options: StoreOptions = StoreOptions(),
                 repeats: int = 5, warmup: int = 1, seed: int = 0, progress: bool = True, *,
                 kernels: list[str] | None = None, sorts: list[bool] | None = None,
                 offsets: list[int] | None = None, pages: list[str] | None = None) -> list[dict]:
    """Gather throughput of each store over the grid; one tidy row per (store, variant, table, row size, rows,
    order).

    Stores that need CUDA on a CPU device are skipped, and a store that cannot be built here (a RuntimeError,
    e.g. the host buffer cannot be pinned for ``zero_copy``) gets ``unavailable: <reason>``: one row with
    ``status`` saying so per table and row size; the other stores are still measured. Columns: store,
    chosen (what ``auto`` picked), kernel (the gather kernel of zero_copy/gpu, "-" for a CPU gather), sort
    (zero_copy sorted the indices), pages, base_offset (table start past a page boundary), huge_bytes (THP bytes
    the buffer's fill added, where Linux says), table_target_bytes (the size asked for), table_bytes (the whole
    rows cut from it), row_bytes, aligned (every row starts 16-byte aligned: the row size and the table's
    start), rows, order, seconds (median), gbps, unique_rows (median distinct rows per call), gbps_unique,
    l2_bound (see the module doc), status, gather_threads (the CPU threads of the store that gathered, 0 for GPU
    gathers) and torch_threads.

    Variants (default: the run's own ``options``, the table where the allocator put it):
    ``kernels`` for zero_copy and gpu (e.g. ``["triton", "index_select", "triton_wide"]``), ``sorts`` for
    zero_copy, ``offsets`` (bytes past a page boundary) and ``pages`` (see :data:`PAGES`). One host buffer per
    table size and page policy serves every row size and offset (pinned once, for the zero_copy stores).
    """
    grid = _Grid(list(stores), list(row_bytes), list(rows_per_call), list(orders), device, options,
                 *_variant_lists(options, kernels, sorts, offsets, pages), repeats, warmup)
    gen = torch.Generator().manual_seed(seed)
    n_offsets = 1 if grid.offsets is None else len(grid.offsets)
    bar = tqdm(total=len(table_bytes) * len(grid.pages) * n_offsets * len(row_bytes), desc="gather sweep",
               disable=not progress, leave=False)
    out: list[dict] = []
    for tb in table_bytes:
        for page_mode in grid.pages:
            out += _sweep_buffer(grid, tb, page_mode, gen, bar)
    bar.close()
    return out


@dataclasses.dataclass(frozen=True)
class _Grid:
    """What :func:`gather_sweep` measures on every table, checked."""
    stores: list[str]
    row_bytes: list[int]
    rows_per_call: list[int]
    orders: list[str]
    device: torch.device
    options: StoreOptions
    kernels: list[str]
    sorts: list[bool]
    offsets: list[int] | None
    pages: list[str]
    repeats: int
    warmup: int


def _variant_lists(options: StoreOptions, kernels, sorts, offsets, pages) -> tuple:
    """(kernels, sorts, offsets, pages) with the run's own options where None; raises on unknown or empty ones."""
    kernels = [options.kernel] if kernels is None else list(kernels)
    sorts = [options.sort_indices] if sorts is None else [bool(b) for b in sorts]
    page_list = ["default"] if pages is None else list(pages)
    bad = [k for k in kernels if k not in KERNELS] + [p for p in page_list if p not in PAGES]
    if bad or not kernels or not sorts or not page_list or (offsets is not None and not offsets):
        raise ValueError(f"bad or empty variant lists: {bad or 'an empty list'}; kernels are {list(KERNELS)}, "
                         f"pages {list(PAGES)}")
    if offsets is not None and any(not 0 <= o < PAGE for o in offsets):
        raise ValueError(f"offsets are bytes past a page boundary, 0 <= offset < {PAGE}; got {offsets}")
    return kernels, sorts, None if offsets is None else list(offsets), page_list


#: host memory a benchmark table must leave free (the process, the staging buffers, the page cache's working set)
HOST_MARGIN = 1 << 30


def _sweep_buffer(grid: _Grid, tb: int, page_mode: str, gen: torch.Generator, bar) -> list[dict]:
    """Every store, variant, offset and row size on one host buffer of ``tb`` bytes under ``page_mode``. The
    buffer is pinned once for all of them (registering tens of GiB takes seconds) and freed on return, before
    the next one is filled (tables of tens of GiB)."""
    huge_before = anon_huge_bytes()
    try:
        free = host_memory_available()
        if tb + HOST_MARGIN > free:  # filling it would bring the out-of-memory killer: the whole run would end
            raise ValueError(f"a {tb / 2**30:.1f} GiB table needs that much host memory (and "
                             f"{HOST_MARGIN / 2**30:.0f} GiB to spare); {free / 2**30:.1f} GiB is available")
        buffer, sliced = _tables(tb, grid.row_bytes, grid.offsets, page_mode)
    except ValueError as exc:  # too little host memory, or madvise refused: this table cannot be measured here
        bar.update((1 if grid.offsets is None else len(grid.offsets)) * len(grid.row_bytes))
        return [{"store": name, "pages": page_mode, "table_target_bytes": tb, "table_bytes": tb,
                 "status": f"unavailable: {exc}"} for name in grid.stores]
    huge_after = anon_huge_bytes()
    huge = None if huge_before is None or huge_after is None else max(0, huge_after - huge_before)
    # the zero-copy stores map the buffer under this registration; the other stores read it like any host memory
    pin, unpinnable = None, None
    if grid.device.type == "cuda" and "zero_copy" in grid.stores:
        try:
            pin = pin_in_place(buffer, grid.device)
        except RuntimeError as exc:
            unpinnable = f"unavailable: {exc}"
    out: list[dict] = []
    try:
        for base, region in sliced:
            for rb in grid.row_bytes:
                table = table_view(region, rb)
                meta = {"pages": page_mode, "base_offset": base, "huge_bytes": huge, "table_target_bytes": tb,
                        "table_bytes": table.numel() * table.element_size(), "row_bytes": rb,
                        "aligned": rb % 16 == 0 and table.data_ptr() % 16 == 0}
                out += _measure_table(grid, table, meta, gen, unpinnable)
                bar.update()
    finally:
        if pin is not None:
            _unpin(pin)
    return out


def _unpin(pin) -> None:
    """End the sweep buffer's registration (the zero-copy stores that borrowed it are closed by now). Views
    still alive (in the traceback of an exception being handled) get a warning, not an error that would mask
    that exception: the registration then ends with the last of them."""
    try:
        pin.unpin()
    except ViewsAliveError as exc:
        warnings.warn(f"gather sweep: {exc}", RuntimeWarning, stacklevel=2)


def _measure_table(grid: _Grid, table: torch.Tensor, meta: dict, gen: torch.Generator,
                   unpinnable: str | None) -> list[dict]:
    """Every store and variant on one table; the index draws are shared by all of them."""
    pools = _index_pools(table.shape[0], grid.rows_per_call, grid.orders, grid.warmup + grid.repeats, gen)
    out: list[dict] = []
    for name in grid.stores:
        if STORES.get(name).needs_cuda and grid.device.type != "cuda":
            out.append({"store": name, **meta, "status": "needs CUDA"})
        elif name == "zero_copy" and unpinnable:
            out.append({"store": name, **meta, "status": unpinnable})
        else:
            for opts in _variants(name, grid.options, grid.kernels, grid.sorts):
                out += [{**meta, **r} for r in _one_store(name, table, grid.device, opts, pools, grid.repeats,
                                                          grid.warmup)]
    return out
