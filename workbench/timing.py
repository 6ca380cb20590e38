"""How every benchmark in the workbench times code: the median of repeated runs after warm-up, CUDA synced."""
from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence

import torch

from .progress import tqdm


def sync(device: torch.device | str) -> None:
    """Wait for queued CUDA work on ``device`` (no-op on CPU), so a wall-clock interval covers it."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device | str = "cpu", repeats: int = 5,
                   warmup: int = 1, min_seconds: float = 0.0, max_repeats: int = 200,
                   warmup_seconds: float = 0.0) -> float:
    """Median wall seconds of ``fn()`` over at least ``repeats`` calls after ``warmup`` untimed ones, synced on
    CUDA around each. Cheap calls repeat until ``min_seconds`` have been timed (at most ``max_repeats``), so a
    few scheduler stalls on a shared machine do not decide the median. ``warmup_seconds`` adds untimed calls
    until that long has passed: a call on buffers of a size the process has not used yet can take several calls
    to warm up (allocator, page faults), more than a fixed count covers."""
    if repeats < 1 or warmup < 0 or warmup_seconds < 0:
        raise ValueError(f"need repeats >= 1, warmup >= 0 and warmup_seconds >= 0, got {repeats}, {warmup}, "
                         f"{warmup_seconds}")
    for _ in range(warmup):
        fn()
    if warmup_seconds > 0:
        end = time.perf_counter() + warmup_seconds
        while time.perf_counter() < end:
            fn()
            sync(device)
    times: list[float] = []
    while len(times) < repeats or (sum(times) < min_seconds and len(times) < max_repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_interleaved(runs: Sequence[Callable[[], object]], device, repeats: int, warmup: int = 1) -> list[float]:
    """Median seconds of each run over ``repeats`` rounds after ``warmup`` untimed ones, the runs taken in
    turn within each round, so that a load change on a shared machine hits every run alike (each single call
    timed by :func:`workbench.timing.median_seconds`, CUDA-synced)."""
    times: list[list[float]] = [[] for _ in runs]
    for r in tqdm(range(warmup + repeats), desc=f"timing {len(runs)} runs in turn", unit="round", leave=False):
        for t, fn in zip(times, runs):
            if r < warmup:
                fn()
            else:
                t.append(median_seconds(fn, device, repeats=1, warmup=0))
    return [statistics.median(t) for t in times]
