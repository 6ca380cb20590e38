"""Verdicts: what a GPU data access run's tables say about their own precision, one printed sentence each."""
from __future__ import annotations

import os

import pandas as pd


def noise_lines(summary: pd.DataFrame) -> list[str]:
    """Where ``auto`` (or any store) ran the same store as ``cpu`` on a graph (``chosen``), its ratios against
    ``cpu`` measure run-to-run noise: one line per such row, and the largest such deviation as the noise level
    below which differences between stores mean nothing."""
    if summary.empty:
        return []
    ref = summary[summary.store == "cpu"].set_index("graph")["chosen"]
    same = summary[(summary.store != "cpu") & (summary.chosen == summary.graph.map(ref))]
    lines = [f"{r.graph}: {r.store} ran the same store as cpu ({r.chosen}), so its speedup_vs_cpu "
             f"{r.speedup_vs_cpu:.2f} and cpu_time_ratio {r.cpu_time_ratio:.2f} measure run-to-run noise, not a "
             "difference between stores" for r in same.itertuples()]
    if len(same):
        apart = (1 / same.speedup_vs_cpu - 1).abs().max()  # epoch time over the cpu store's, minus 1
        lines.append(f"run-to-run noise in this run: epoch time within {apart:.0%} of the cpu store's for the same "
                     "store; differences between stores smaller than that are within noise")
    return lines


def cpu_tick_line(summary: pd.DataFrame) -> str | None:
    """How coarse ``cpu_s`` is: process CPU time comes in clock ticks (``SC_CLK_TCK``, psutil's unit on Linux);
    None where the tick is unknown or there are no rows."""
    tick = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else None
    if not tick or summary.empty:
        return None
    low = summary["cpu_s"].min()
    return (f"cpu_s is process CPU time (psutil), counted in {tick * 1e3:.0f} ms clock ticks: the smallest here, "
            f"{low:.2f} s, is {low / tick:.0f} ticks, so cpu_time_ratio is coarse where epochs are short")
