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
from .unified import pin_in_place


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
    except RuntimeError as exc:  # e.g. host registration refused (locked-memory limit) or no UVA: not this store
        return [{"store": name, "status": f"unavailable: {exc}"}]
    rows_out = []
    try:
        home = torch.device("cpu") if name == "cpu" or getattr(store, "chosen", "") == "cpu" else device
        threads = {"gather_threads": store.threads, "torch_threads": torch.get_num_threads()}
        for rows in rows_list:
            for order in orders:
                idx = _indices(table.shape[0], rows, order, gen).to(home)
                s = median_seconds(lambda: store.gather(idx), device, repeats, warmup)
                nbytes = rows * table[0].numel() * table.element_size()
                rows_out.append({"store": name, "chosen": getattr(store, "chosen", name), "rows": rows,
                                 "order": order, "seconds": s, "gbps": nbytes / s / 1e9, "status": "ok",
                                 **threads})
    finally:
        store.close()
    return rows_out


def gather_sweep(stores: list[str], row_bytes: list[int], table_bytes: list[int], rows_per_call: list[int],
                 orders: list[str], device: torch.device, options: StoreOptions = StoreOptions(),
                 repeats: int = 5, warmup: int = 1, seed: int = 0, progress: bool = True) -> list[dict]:
    """Gather throughput of each store over the grid; one tidy row per (store, table, row size, rows, order).

    Stores that need CUDA on a CPU device are skipped, and a store that cannot be built here (a RuntimeError,
    e.g. the host buffer cannot be pinned for ``zero_copy``) gets ``unavailable: <reason>``: one row with
    ``status`` saying so per table and row size; the other stores are still measured. Columns: store,
    chosen (what ``auto`` picked), table_bytes, row_bytes, aligned (rows start 16-byte aligned), rows, order,
    seconds (median), gbps, status, gather_threads (the store's CPU threads, 0 for GPU gathers) and
    torch_threads (torch's intra-op pool while measuring). One host buffer per table size serves every row size.
    """
    gen = torch.Generator().manual_seed(seed)
    out: list[dict] = []
    bar = tqdm(total=len(table_bytes) * len(row_bytes), desc="gather sweep", disable=not progress, leave=False)
    for tb in table_bytes:
        buffer = make_buffer(max(tb, max(row_bytes)))
        # pinned once per table for every row size (registering tens of GiB takes seconds): the zero-copy
        # stores map it under this registration; the other stores read it like any host memory
        pin, unpinnable = None, None
        if device.type == "cuda" and "zero_copy" in stores:
            try:
                pin = pin_in_place(buffer, device)
            except RuntimeError as exc:
                unpinnable = f"unavailable: {exc}"
        try:
            for rb in row_bytes:
                table = table_view(buffer, rb)
                for name in stores:
                    meta = {"table_bytes": table.numel() * table.element_size(), "row_bytes": rb,
                            "aligned": rb % 16 == 0}
                    if STORES.get(name).needs_cuda and device.type != "cuda":
                        out.append({"store": name, **meta, "status": "needs CUDA"})
                        continue
                    if name == "zero_copy" and unpinnable:
                        out.append({"store": name, **meta, "status": unpinnable})
                        continue
                    out += [{**meta, **r} for r in _one_store(name, table, device, options, rows_per_call, orders,
                                                              repeats, warmup, gen)]
                del table
                bar.update()
        finally:
            if pin is not None:
                pin.unpin()
        del buffer
    bar.close()
    return out
