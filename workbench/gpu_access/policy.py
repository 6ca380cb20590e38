"""The ``auto`` feature-store policy: a small explicit rule, thresholds as parameters, calibratable.

Rule (first match wins):

1. no CUDA                                          -> ``cpu``
2. table <= ``gpu_fit_fraction`` x free GPU memory  -> ``gpu``   (all features resident: the upper bound)
3. row bytes >= the zero-copy threshold             -> ``zero_copy`` (GPU reads the rows over PCIe)
4. otherwise                                        -> ``cpu``   (narrow random rows waste PCIe transactions:
                                                       a 128 B row costs about as much as a much wider read)

Rules 1-2 are decided once per table; rules 3-4 per gather call, because the zero-copy threshold depends on the
table size (zero-copy gathers slow down on large tables: address translation) and on the rows per call (short
calls pay the launch, sort and copy latencies of either path). ``thresholds`` holds ``(table_bytes,
rows_per_call, min_row_bytes)`` triples: a table uses the triples of the smallest listed table size at least as
large as it (the largest listed size beyond them all), and among those, a call the triple of the smallest listed
rows_per_call at least as large as the call (the largest beyond them all; the largest when the call size is not
known). With no triples, ``zero_copy_min_row_bytes`` applies everywhere. Default 512 B comes from the issue's H100
numbers (zero-copy of random 128 B rows on a 32 GiB table: 3.8 GB/s, below a 16-core CPU gather; 512 B rows
sorted: 26 GB/s, on par). :func:`calibrate` derives the triples from a microbenchmark run: per table size and
rows per call, the smallest row size from which on zero-copy beat the CPU store (:data:`NEVER` where it never
did).
"""
from __future__ import annotations

import dataclasses

import pandas as pd

def asked_table_bytes(bench: pd.DataFrame) -> pd.Series:
    """Each gather-sweep row's table size as the sweep asked for it (``table_target_bytes``; ``table_bytes`` in
    tables without that column): row sizes that do not divide it (132 B) cut a few bytes smaller tables from the
    same buffer, which must not count as table sizes of their own."""
    return bench["table_target_bytes"] if "table_target_bytes" in bench else bench["table_bytes"]


NEVER = 1 << 62  # a zero-copy threshold no row reaches: zero-copy never won at the widest measured row


@dataclasses.dataclass(frozen=True)
class AutoPolicy:
    gpu_fit_fraction: float = 0.5  # share of free GPU memory the table may take (the rest: model, activations)
    zero_copy_min_row_bytes: int = 512  # rows at least this wide are gathered zero-copy (without triples below)
    gpu_memory_cap_bytes: int = 0  # the emulated GPU's size (set_per_process_memory_fraction), 0 = the real one
    thresholds: tuple[tuple[int, int, int], ...] = ()  # (table_bytes, rows_per_call, min_row_bytes), calibrate()

    def __post_init__(self):
        if not 0.0 <= self.gpu_fit_fraction <= 1.0:
            raise ValueError(f"gpu_fit_fraction must be in [0, 1], got {self.gpu_fit_fraction}")
        if self.zero_copy_min_row_bytes < 0:
            raise ValueError(f"zero_copy_min_row_bytes must be >= 0, got {self.zero_copy_min_row_bytes}")
        if any(len(x) != 3 or x[0] <= 0 or x[1] < 1 or x[2] < 0 for x in self.thresholds):
            raise ValueError("thresholds needs (table_bytes > 0, rows_per_call >= 1, min_row_bytes >= 0) triples, "
                             f"got {self.thresholds}")

    def min_row_bytes(self, table_bytes: int, rows: int | None = None) -> int:
        """The zero-copy row threshold for a table of ``table_bytes`` and a call of ``rows`` rows (None: not
        known, the largest measured calls), as the module docstring says."""
        if not self.thresholds:
            return self.zero_copy_min_row_bytes
        tables = sorted({t for t, _, _ in self.thresholds})
        table = next((t for t in tables if t >= table_bytes), tables[-1])
        by_rows = sorted((r, m) for t, r, m in self.thresholds if t == table)
        if rows is None:
            return by_rows[-1][1]
        return next((m for r, m in by_rows if r >= rows), by_rows[-1][1])

    def host_stores(self, table_bytes: int, row_bytes: int) -> set[str]:
        """The stores rules 3-4 may pick for some call size on a table that stays in host memory."""
        rows = sorted({r for t, r, _ in self.thresholds}) or [None]
        return {host_choice(table_bytes, row_bytes, self, r) for r in rows}


def choose(table_bytes: int, row_bytes: int, free_gpu_bytes: int | None, policy: AutoPolicy = AutoPolicy(),
           rows: int | None = None) -> str:
    """The store name for a table of ``table_bytes`` with rows of ``row_bytes``, for calls of ``rows`` rows (None:
    not known); ``free_gpu_bytes`` None = no CUDA. Pure function of its arguments (tested on CPU)."""
    if free_gpu_bytes is None:
        return "cpu"
    if table_bytes <= policy.gpu_fit_fraction * free_gpu_bytes:
        return "gpu"
    return host_choice(table_bytes, row_bytes, policy, rows)


def host_choice(table_bytes: int, row_bytes: int, policy: AutoPolicy, rows: int | None = None) -> str:
    """Rules 3-4 alone: ``zero_copy`` or ``cpu`` for a table kept in host memory."""
    return "zero_copy" if row_bytes >= policy.min_row_bytes(table_bytes, rows) else "cpu"


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
    gbps, and if measured ``rows`` per call and ``table_target_bytes``, the table size the sweep asked for; random
    order): for each table size and rows per call, the smallest row size from which on zero-copy is at least as
    fast as ``cpu`` at every wider row (:data:`NEVER` when it lost at the widest). Tables are grouped by the size
    asked for where known: the sweep cuts whole rows from one buffer, so row sizes that do not divide it (132 B)
    give tables a few bytes smaller, which must not make table sizes of their own. The largest table's threshold
    at its largest calls also becomes ``zero_copy_min_row_bytes``. Unchanged when either store is missing. Unlike the
    figures, it keeps ``l2_bound`` rows: the policy must decide for such small tables too, whose gathers meet those
    caches in training as well."""
    df = bench[(bench["order"] == "random") & bench["store"].isin(["cpu", "zero_copy"])]
    if df.empty or df["store"].nunique() < 2:
        return policy
    df = df.assign(rows=df["rows"] if "rows" in df else 1, table=asked_table_bytes(df))
    triples = []
    for (table_bytes, rows), d in df.groupby(["table", "rows"]):
        wide = d.pivot_table(index="row_bytes", columns="store", values="gbps", aggfunc="median").dropna()
        if len(wide.columns) == 2 and len(wide):
            triples.append((int(table_bytes), int(rows), _smallest_winning_row(wide)))
    if not triples:
        return policy
    return dataclasses.replace(policy, zero_copy_min_row_bytes=max(triples)[2], thresholds=tuple(sorted(triples)))


def _smallest_winning_row(wide: pd.DataFrame) -> int:
    """From a (row_bytes x {cpu, zero_copy}) table of GB/s: the smallest row size from which on zero-copy wins
    at every wider row (:data:`NEVER` when it lost at the widest)."""
    wins = (wide["zero_copy"] >= wide["cpu"]).to_numpy()
    rows = wide.index.to_numpy()
    threshold = NEVER
    for i in range(len(rows) - 1, -1, -1):
        if not wins[i]:
            break
        threshold = int(rows[i])
    return threshold
