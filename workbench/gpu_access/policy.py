"""The ``auto`` feature-store policy: a small explicit rule, thresholds as parameters, calibratable.

Rule (first match wins):

1. no CUDA                                          -> ``cpu``
2. table <= ``gpu_fit_fraction`` x free GPU memory  -> ``gpu``   (all features resident: the upper bound)
3. row bytes >= ``zero_copy_min_row_bytes``         -> ``zero_copy`` (GPU reads the rows over PCIe)
4. otherwise                                        -> ``cpu``   (narrow random rows waste PCIe transactions:
                                                       a 128 B row costs about as much as a much wider read)

Default 512 B comes from the issue's H100 numbers (zero-copy of random 128 B rows on a 32 GiB table: 3.8 GB/s,
below a 16-core CPU gather; 512 B rows sorted: 26 GB/s, on par). :func:`calibrate` replaces it by the smallest
row size at which zero-copy beat the CPU store on the largest table of a microbenchmark run.
"""
from __future__ import annotations

import dataclasses

import pandas as pd


@dataclasses.dataclass(frozen=True)
class AutoPolicy:
    gpu_fit_fraction: float = 0.5  # share of free GPU memory the table may take (the rest: model, activations)
    zero_copy_min_row_bytes: int = 512  # rows at least this wide are gathered zero-copy
    gpu_memory_cap_bytes: int = 0  # the emulated GPU's size (set_per_process_memory_fraction), 0 = the real one

    def __post_init__(self):
        if not 0.0 <= self.gpu_fit_fraction <= 1.0:
            raise ValueError(f"gpu_fit_fraction must be in [0, 1], got {self.gpu_fit_fraction}")
        if self.zero_copy_min_row_bytes < 0:
            raise ValueError(f"zero_copy_min_row_bytes must be >= 0, got {self.zero_copy_min_row_bytes}")


def choose(table_bytes: int, row_bytes: int, free_gpu_bytes: int | None, policy: AutoPolicy = AutoPolicy()) -> str:
    """The store name for a table of ``table_bytes`` with rows of ``row_bytes``; ``free_gpu_bytes`` None = no
    CUDA. Pure function of its arguments (tested on CPU)."""
    if free_gpu_bytes is None:
        return "cpu"
    if table_bytes <= policy.gpu_fit_fraction * free_gpu_bytes:
        return "gpu"
    if row_bytes >= policy.zero_copy_min_row_bytes:
        return "zero_copy"
    return "cpu"


def free_gpu_bytes(device, cap_bytes: int = 0) -> int | None:
    """Free memory on ``device`` in bytes; with ``cap_bytes`` > 0 (an emulated smaller GPU) at most what this
    process may still allocate under that cap. None on CPU."""
    import torch
    if getattr(device, "type", str(device)) != "cuda" or not torch.cuda.is_available():
        return None
    free, _ = torch.cuda.mem_get_info(device)
    if cap_bytes > 0:
        free = min(free, cap_bytes - torch.cuda.memory_reserved(device))
    return max(int(free), 0)


def calibrate(bench: pd.DataFrame, policy: AutoPolicy = AutoPolicy()) -> AutoPolicy:
    """Set ``zero_copy_min_row_bytes`` from a gather microbenchmark (columns store, table_bytes, row_bytes,
    order, gbps): on the largest table, random order, the smallest row size from which on zero-copy is at least
    as fast as ``cpu`` at every wider row. Unchanged when either store is missing."""
    df = bench[(bench["order"] == "random") & bench["store"].isin(["cpu", "zero_copy"])]
    if df.empty or df["store"].nunique() < 2:
        return policy
    df = df[df["table_bytes"] == df["table_bytes"].max()]
    wide = df.pivot_table(index="row_bytes", columns="store", values="gbps", aggfunc="median").dropna()
    if wide.empty:
        return policy
    wins = (wide["zero_copy"] >= wide["cpu"]).to_numpy()
    rows = wide.index.to_numpy()
    threshold = int(rows.max()) + 1  # zero-copy never won: effectively off
    for i in range(len(rows) - 1, -1, -1):
        if not wins[i]:
            break
        threshold = int(rows[i])
    return dataclasses.replace(policy, zero_copy_min_row_bytes=threshold)
