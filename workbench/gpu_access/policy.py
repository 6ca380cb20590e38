"""The ``auto`` feature-store policy: a small explicit rule, thresholds as parameters, calibratable.

Rule (first match wins):

1. no CUDA                                          -> ``cpu``
2. table <= ``gpu_fit_fraction`` x free GPU memory  -> ``gpu``   (all features resident: the upper bound)
3. row bytes >= the zero-copy threshold             -> ``zero_copy`` (GPU reads the rows over PCIe)
4. otherwise                                        -> ``cpu``   (narrow random rows waste PCIe transactions:
                                                       a 128 B row costs about as much as a much wider read)

The zero-copy threshold depends on the table size, because zero-copy gathers slow down on large tables (address
translation): ``thresholds_by_table`` holds ``(table_bytes, min_row_bytes)`` pairs, and a table uses the pair of
the smallest listed size at least as large as it (the largest listed size beyond them all); with no pairs,
``zero_copy_min_row_bytes`` applies to every table. Default 512 B comes from the issue's H100 numbers (zero-copy of
random 128 B rows on a 32 GiB table: 3.8 GB/s, below a 16-core CPU gather; 512 B rows sorted: 26 GB/s, on par).
:func:`calibrate` derives the pairs from a microbenchmark run: per table size, the smallest row size from which on
zero-copy beat the CPU store.
"""
from __future__ import annotations

import dataclasses

import pandas as pd


@dataclasses.dataclass(frozen=True)
class AutoPolicy:
    gpu_fit_fraction: float = 0.5  # share of free GPU memory the table may take (the rest: model, activations)
    zero_copy_min_row_bytes: int = 512  # rows at least this wide are gathered zero-copy (without pairs below)
    gpu_memory_cap_bytes: int = 0  # the emulated GPU's size (set_per_process_memory_fraction), 0 = the real one
    thresholds_by_table: tuple[tuple[int, int], ...] = ()  # (table_bytes, min_row_bytes), from calibrate()

    def __post_init__(self):
        if not 0.0 <= self.gpu_fit_fraction <= 1.0:
            raise ValueError(f"gpu_fit_fraction must be in [0, 1], got {self.gpu_fit_fraction}")
        if self.zero_copy_min_row_bytes < 0:
            raise ValueError(f"zero_copy_min_row_bytes must be >= 0, got {self.zero_copy_min_row_bytes}")
        if any(t <= 0 or r < 0 for t, r in self.thresholds_by_table):
            raise ValueError(f"thresholds_by_table needs (table_bytes > 0, min_row_bytes >= 0) pairs, got "
                             f"{self.thresholds_by_table}")

    def min_row_bytes(self, table_bytes: int) -> int:
        """The zero-copy row threshold for a table of ``table_bytes`` (see the module docstring)."""
        if not self.thresholds_by_table:
            return self.zero_copy_min_row_bytes
        pairs = sorted(self.thresholds_by_table)
        return next((r for t, r in pairs if t >= table_bytes), pairs[-1][1])


def choose(table_bytes: int, row_bytes: int, free_gpu_bytes: int | None, policy: AutoPolicy = AutoPolicy()) -> str:
    """The store name for a table of ``table_bytes`` with rows of ``row_bytes``; ``free_gpu_bytes`` None = no
    CUDA. Pure function of its arguments (tested on CPU)."""
    if free_gpu_bytes is None:
        return "cpu"
    if table_bytes <= policy.gpu_fit_fraction * free_gpu_bytes:
        return "gpu"
    if row_bytes >= policy.min_row_bytes(table_bytes):
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
    """The policy with thresholds from a gather microbenchmark (columns store, table_bytes, row_bytes, order,
    gbps; random order): for each table size, the smallest row size from which on zero-copy is at least as fast
    as ``cpu`` at every wider row (one more than the widest row when zero-copy never won). The largest table's
    threshold also becomes ``zero_copy_min_row_bytes``. Unchanged when either store is missing."""
    df = bench[(bench["order"] == "random") & bench["store"].isin(["cpu", "zero_copy"])]
    if df.empty or df["store"].nunique() < 2:
        return policy
    pairs = []
    for table_bytes, d in df.groupby("table_bytes"):
        wide = d.pivot_table(index="row_bytes", columns="store", values="gbps", aggfunc="median").dropna()
        if len(wide.columns) == 2 and len(wide):
            pairs.append((int(table_bytes), _smallest_winning_row(wide)))
    if not pairs:
        return policy
    return dataclasses.replace(policy, zero_copy_min_row_bytes=pairs[-1][1], thresholds_by_table=tuple(pairs))


def _smallest_winning_row(wide: pd.DataFrame) -> int:
    """From a (row_bytes x {cpu, zero_copy}) table of GB/s: the smallest row size from which on zero-copy wins
    at every wider row."""
    wins = (wide["zero_copy"] >= wide["cpu"]).to_numpy()
    rows = wide.index.to_numpy()
    threshold = int(rows.max()) + 1  # zero-copy never won: effectively off
    for i in range(len(rows) - 1, -1, -1):
        if not wins[i]:
            break
        threshold = int(rows[i])
    return threshold
