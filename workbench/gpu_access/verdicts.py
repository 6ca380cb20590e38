"""Verdicts: what a GPU data access run's tables say, one printed sentence each: each store's speed-up over the
paper's baseline (the CPU samples and gathers), and the tables' own precision (auto-vs-cpu noise, CPU-time ticks)."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

#: the row label of PyTorch-Direct's baseline, the CPU samples and gathers (``cpu_sampler_baseline``)
BASELINE = "cpu + cpu sampler"


def noise_lines(summary: pd.DataFrame) -> list[str]:
    """Where ``auto`` (or any store) ran the same store as ``cpu`` on a graph (``chosen``), its ratios against
    ``cpu`` measure run-to-run noise: one line per such row, and the largest such deviation as the noise level
    below which differences between stores mean nothing."""
    if summary.empty:
        return []
    ref = summary[summary.store == "cpu"].set_index("graph")["chosen"]
    # the baseline runs the cpu store too, but with another sampler: a real difference, not noise
    same = summary[~summary.store.isin(["cpu", BASELINE]) & (summary.chosen == summary.graph.map(ref))]
    lines = [f"{r.graph}: {r.store} ran the same store as cpu ({r.chosen}), so its speedup_vs_cpu "
             f"{r.speedup_vs_cpu:.2f} and cpu_time_ratio {r.cpu_time_ratio:.2f} measure run-to-run noise, not a "
             "difference between stores" for r in same.itertuples()]
    if len(same):
        apart = (1 / same.speedup_vs_cpu - 1).abs().max()  # epoch time over the cpu store's, minus 1
        lines.append(f"run-to-run noise in this run: epoch time within {apart:.0%} of the cpu store's for the same "
                     "store; differences between stores smaller than that are within noise")
    return lines


def bench_noise_line(bench: pd.DataFrame) -> str | None:
    """The gather microbenchmark's own noise: ``auto`` runs the store it picks (``chosen``), so each of its calls
    beside that store's same call (table, row size, rows, order) times the same code twice. One line with the
    median, 90th percentile and largest deviation of such pairs' GB/s (one stalled call can make the largest
    huge); None where there is no pair."""
    ok = bench[bench["status"] == "ok"] if "status" in bench else bench
    keys = ["table_bytes", "row_bytes", "rows", "order"]
    if not {"store", "chosen", "gbps", *keys} <= set(ok):
        return None
    keys += [c for c in ("kernel", "sort", "pages", "base_offset") if c in ok]  # a sweep's variants: same code only
    auto = ok[ok["store"] == "auto"].rename(columns={"gbps": "auto_gbps"})
    pairs = auto.merge(ok[ok["store"] != "auto"], left_on=keys + ["chosen"], right_on=keys + ["store"])
    if pairs.empty:
        return None
    dev = np.exp(np.log(pairs["auto_gbps"] / pairs["gbps"]).abs()) - 1  # either side slower by this: symmetric
    return (f"gather noise: auto runs the store it picks, so its {len(pairs)} calls beside that store's same call "
            f"time the same code twice; they differ by {dev.median():.0%} at the median, {dev.quantile(0.9):.0%} "
            f"at the 90th percentile and {dev.max():.0%} at most (either one slower by that): a difference between "
            "stores of the median's size is within this benchmark's noise, and single calls can stall far more")


def cpu_tick_line(summary: pd.DataFrame) -> str | None:
    """How coarse ``cpu_s`` is: process CPU time comes in clock ticks (``SC_CLK_TCK``, psutil's unit on Linux);
    None where the tick is unknown or there are no rows."""
    tick = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else None
    if not tick or summary.empty:
        return None
    low = summary["cpu_s"].min()
    return (f"cpu_s is process CPU time (psutil), counted in {tick * 1e3:.0f} ms clock ticks and averaged over the "
            f"timed epochs: the smallest here, {low:.3f} s, is {low / tick:.1f} ticks an epoch, so cpu_time_ratio is "
            "coarse where epochs are short")


def baseline_lines(summary: pd.DataFrame) -> list[str]:
    """Per graph with a :data:`BASELINE` row (CPU sampling and gathering): each other store's epoch time as a
    speedup over it (PyTorch-Direct's comparison: GPU-centric access against the CPU doing both)."""
    if summary.empty or BASELINE not in set(summary.store):
        return []
    base = summary[summary.store == BASELINE].set_index("graph")["epoch_s"]
    lines = []
    for graph, t in base.items():
        others = summary[(summary.graph == graph) & (summary.store != BASELINE)]
        lines.append(f"{graph}: against the CPU sampling and gathering ({t:.3g} s an epoch), "
                     + ", ".join(f"{r.store} {t / r.epoch_s:.2f}x as fast" for r in others.itertuples()))
    return lines
