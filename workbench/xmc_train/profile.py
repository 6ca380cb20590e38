"""Where a training step's time goes, by operator: ``torch.profiler`` over a few steps of one sampler.

The trainer's phase timers (sample / encode / loss / backward) say which phase is slow; this says which
operators inside it are, and on a GPU also the time each spends on the device and how often the host waits for
it (``cudaStreamSynchronize``, ``aten::item``, ``aten::_local_scalar_dense`` rows). Each profile trains a fresh
model from the shared initialisation for ``warmup + steps`` steps, so a per-epoch refresh (ANCE's shortlist,
NGAME's clustering) falls in the warm-up or not at all, as long as an epoch holds that many batches (a warning
says when it does not: the recorded steps then include the refreshes of the epochs they cross). The ``warmup``
steps are run but not recorded (allocator, autotuning, first-call costs); rows are per recorded step, largest host
time first. With ``host``, one row per sampler on what the host did over the same recorded steps (below).
"""
from __future__ import annotations

import contextlib
import gc
import math
import os
import sys
import tempfile
import time
import warnings
from typing import Iterator

import torch
from torch.profiler import ProfilerActivity, profile, schedule

from ..device import cpu_quota_cores, cpu_throttling, usable_cores
from .stages import train_sampler
from .study import NegativeMiningConfig, Prepared


def step_profile(cfg: NegativeMiningConfig, prep: Prepared, sampler: str, steps: int = 20, warmup: int = 5,
                 top: int = 30, host: list[dict] | None = None) -> list[dict]:
    """``top`` operators of ``steps`` training steps of ``sampler`` (after ``warmup`` unrecorded ones), no
    evaluation: rows ``{sampler, op, calls_per_step, self_cpu_ms, cpu_total_ms, self_device_ms}`` per step
    (``self_device_ms`` NaN without CUDA: nothing was timed on a device).

    ``host``: a list that gets one row (:func:`host_row`) over the same recorded steps: whether the host thread
    worked or waited, e.g. when a phase that takes 1 ms on a core reads 30 ms on a GPU machine."""
    if steps < 1 or warmup < 1 or top < 1:  # warmup 0 would record model building and set-up as step 1
        raise ValueError(f"need steps >= 1, warmup >= 1 and top >= 1; got {steps}, {warmup}, {top}")
    cuda = torch.cuda.is_available() and str(cfg.device) != "cpu"
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    n = warmup + steps
    per_epoch = math.ceil(len(prep.train) / cfg.batch_size)
    if per_epoch < n:
        warnings.warn(f"step_profile({sampler!r}): an epoch is {per_epoch} batches, fewer than warmup + steps = {n}: "
                      "the recorded steps include per-epoch refreshes", stacklevel=2)
    done, marks, gc_clock = [], [], GcClock()

    def on_step(step: int) -> None:
        done.append(step)
        if len(done) in (warmup, n):
            marks.append(_host_mark(gc_clock))
        prof.step()
    # one cycle: the last step's prof.step() ends it, so the trainer's teardown is not recorded; epochs enough
    # for n steps (the learning-rate plan is max_steps then, so the epochs change nothing else)
    with _without_kineto_markers(), gc_clock, \
            profile(activities=acts, schedule=schedule(wait=0, warmup=warmup, active=steps, repeat=1)) as prof:
        train_sampler(cfg, prep, sampler, progress=False, on_step=on_step, eval_every=-1, max_steps=n, epochs=n,
                      time_budget_s=0.0, log_every=n, bare_probe_every=0)
    if len(done) != n:
        raise RuntimeError(f"step_profile({sampler!r}): the run took {len(done)} steps, not warmup + steps = {n}")
    if host is not None:
        host.append(host_row(sampler, steps, *marks))
    rows = []
    for e in prof.key_averages():
        device_us = getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0.0))
        rows.append({"sampler": sampler, "op": e.key, "calls_per_step": e.count / steps,
                     "self_cpu_ms": e.self_cpu_time_total / 1e3 / steps, "cpu_total_ms": e.cpu_time_total / 1e3 / steps,
                     "self_device_ms": device_us / 1e3 / steps if cuda else math.nan})  # no device timing on CPU
    rows.sort(key=lambda r: -r["self_cpu_ms"])
    return rows[:top]


class GcClock:
    """Python's garbage collections while the block runs (``gc.callbacks``): seconds in them, how many, and how
    many were full (generation 2, which walks every tracked object: ~150 ms on this lab's 2-core CPU machine
    once torch, transformers, pandas and matplotlib are imported, ~440K objects)."""

    def __init__(self):
        self.seconds, self.collections, self.full = 0.0, 0, 0
        self._start: float | None = None

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self.collections += 1
            self.full += info.get("generation") == 2
            self._start = None

    def __enter__(self) -> "GcClock":
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)

    def reading(self) -> tuple[float, int, int]:
        return self.seconds, self.collections, self.full


def _host_mark(gc_clock: GcClock) -> tuple:
    return time.perf_counter(), time.process_time(), time.thread_time(), cpu_throttling(), gc_clock.reading()


def host_row(sampler: str, steps: int, start: tuple, end: tuple) -> dict:
    """Between two marks: wall, the process's CPU time (all threads) and the calling thread's, per step; how often
    the cgroup's CPU quota stopped the process (periods in all) and for how long (ms per step), NaN where
    unreadable; Python's garbage collections (ms per step; collections and full ones in all); and the torch
    threads, usable cores and quota they ran under. A thread that waits for the GPU spins (CUDA's default with
    one context), so ``main_thread_cpu_ms`` well below ``wall_ms`` means it was descheduled or blocked, not busy;
    ``gc_ms`` is work of the main thread that no operator profile shows."""
    wall, cpu, thread = (end[i] - start[i] for i in range(3))
    throttled = (math.nan, math.nan) if start[3] is None or end[3] is None else \
        (end[3][0] - start[3][0], 1e3 * (end[3][1] - start[3][1]))
    gc_s, gc_n, gc_full = (end[4][i] - start[4][i] for i in range(3))
    quota = cpu_quota_cores()
    return {"sampler": sampler, "steps": steps, "wall_ms": 1e3 * wall / steps,
            "process_cpu_ms": 1e3 * cpu / steps, "main_thread_cpu_ms": 1e3 * thread / steps,
            "cores_busy": cpu / wall if wall > 0 else math.nan,
            "throttled_periods": throttled[0], "throttled_ms": throttled[1] / steps,
            "gc_ms": 1e3 * gc_s / steps, "gc_collections": gc_n, "gc_full": gc_full,
            "torch_threads": torch.get_num_threads(), "usable_cores": usable_cores(),
            "cpu_quota_cores": math.nan if quota is None else quota}


KINETO_MARKER = "USDT:"  # torch >= 2.12's Kineto: "USDT:<time> <pid>:<tid> ...] profiler_start" (and _stop)


@contextlib.contextmanager
def _without_kineto_markers() -> Iterator[None]:
    """Drop the lines Kineto writes straight to file descriptor 2 as a profiler starts and stops (they would stand
    in the report, and ``KINETO_LOG_LEVEL`` does not silence them). Everything else written to fd 2 meanwhile is
    passed on when the block ends."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                tmp.seek(0)
                kept = [line for line in tmp.read().decode(errors="replace").splitlines(keepends=True)
                        if not line.startswith(KINETO_MARKER)]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()
    finally:
        os.close(saved)
