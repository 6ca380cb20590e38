"""Microbenchmarks: the pinned host-to-device copy ceiling and gather throughput per feature store.

Timing: ``warmup`` untimed calls, then the median of ``repeats`` timed calls, each ended by synchronizing the
device (so a GPU gather is counted complete). Throughput counts useful bytes only: rows x row bytes / seconds,
in GB/s (1e9 bytes). Indices are handed to each store on its natural device (CPU for ``cpu``, the GPU for the
GPU-side stores), as a sampler on that device would produce them.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..timing import median_seconds
from .stores import STORES, StoreOptions, make_store


def h2d_bandwidth(nbytes: int, device: torch.device, repeats: int = 10, warmup: int = 2) -> dict | None:
    """Pinned host -> GPU copy of ``nbytes``: the physical ceiling of any gather from host memory.
    One tidy row (bytes, seconds, gbps), or None on a CPU device (there is no host-to-device link)."""
    if device.type != "cuda":
        return None
    src = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True).fill_(1)
    dst = torch.empty(nbytes, dtype=torch.uint8, device=device)
    s = median_seconds(lambda: dst.copy_(src, non_blocking=True), device, repeats, warmup)
    return {"measure": "h2d_pinned_copy", "bytes": nbytes, "seconds": s, "gbps": nbytes / s / 1e9}


def make_table(table_bytes: int, row_bytes: int) -> torch.Tensor:
    """A host table of about ``table_bytes`` with rows of exactly ``row_bytes`` (float32 where the row size is a
    multiple of 4, else uint8), every page written (untouched pages would all map the zero page)."""
    dtype = torch.float32 if row_bytes % 4 == 0 else torch.uint8
    width = row_bytes // (4 if dtype == torch.float32 else 1)
    n = max(1, table_bytes // row_bytes)
    table = torch.empty(n, width, dtype=dtype)
    table.view(-1)[:].fill_(1)
    return table


def _indices(n: int, rows: int, order: str, gen: torch.Generator) -> torch.Tensor:
    idx = torch.randint(n, (rows,), generator=gen)
    if order == "sorted":
        return idx.sort().values
    if order != "random":
        raise ValueError(f"order must be 'random' or 'sorted', got {order!r}")
    return idx


def _one_store(name: str, table: torch.Tensor, device: torch.device, options: StoreOptions, rows_list, orders,
               repeats: int, warmup: int, gen: torch.Generator) -> list[dict]:
    try:
        store = make_store(name, table, device, options)
    except torch.OutOfMemoryError:
        return [{"store": name, "status": "does not fit in GPU memory"}]
    rows_out = []
    try:
        home = torch.device("cpu") if name == "cpu" or getattr(store, "chosen", "") == "cpu" else device
        for rows in rows_list:
            for order in orders:
                idx = _indices(table.shape[0], rows, order, gen).to(home)
                s = median_seconds(lambda: store.gather(idx), device, repeats, warmup)
                nbytes = rows * table[0].numel() * table.element_size()
                rows_out.append({"store": name, "chosen": getattr(store, "chosen", name), "rows": rows,
                                 "order": order, "seconds": s, "gbps": nbytes / s / 1e9, "status": "ok"})
    finally:
        store.close()
    return rows_out


def gather_sweep(stores: list[str], row_bytes: list[int], table_bytes: list[int], rows_per_call: list[int],
                 orders: list[str], device: torch.device, options: StoreOptions = StoreOptions(),
                 repeats: int = 5, warmup: int = 1, seed: int = 0, progress: bool = True) -> list[dict]:
    """Gather throughput of each store over the grid; one tidy row per (store, table, row size, rows, order).

    Stores that need CUDA on a CPU device are skipped (one row with ``status`` saying so). Columns: store,
    chosen (what ``auto`` picked), table_bytes, row_bytes, aligned (rows start 16-byte aligned), rows, order,
    seconds (median), gbps, status.
    """
    gen = torch.Generator().manual_seed(seed)
    out: list[dict] = []
    grid = [(t, r) for t in table_bytes for r in row_bytes]
    for tb, rb in tqdm(grid, desc="gather sweep", disable=not progress, leave=False):
        table = make_table(tb, rb)
        for name in stores:
            meta = {"table_bytes": table.numel() * table.element_size(), "row_bytes": rb, "aligned": rb % 16 == 0}
            if STORES.get(name).needs_cuda and device.type != "cuda":
                out.append({"store": name, **meta, "status": "needs CUDA"})
                continue
            out += [{**meta, **r} for r in _one_store(name, table, device, options, rows_per_call, orders,
                                                      repeats, warmup, gen)]
        del table
    return out
