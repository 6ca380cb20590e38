"""The constant-time bench on a device too small for some of it: a method or size that runs out of memory gets
rows with a status and no time, the others are timed, and the flatness ratio uses the sizes LSH was timed at.
The out-of-memory errors are raised on purpose on a CPU. Does not prove: which sizes fit on which GPU."""
from __future__ import annotations

import math

import torch

from workbench.lsh import bench
from workbench.lsh.params import LSHParams


def _run(monkeypatch, fail):
    real_step, real_vectors = bench.full_softmax_step, bench.label_vectors

    def step(q, W, pos):
        if ("full-softmax", W.shape[0]) in fail:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 40.00 GiB")
        return real_step(q, W, pos)

    def vectors(N, *a, **k):
        if ("labels", N) in fail:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 5.00 GiB")
        return real_vectors(N, *a, **k)
    monkeypatch.setattr(bench, "full_softmax_step", step)
    monkeypatch.setattr(bench, "label_vectors", vectors)
    params = LSHParams(family="simhash", K=4, L=2, cap=8)
    return bench.bench_sizes([200, 400, 800], params, 8, 4, 16, 1, 0, torch.device("cpu"))


def test_a_method_out_of_memory_at_the_largest_size_is_skipped_not_fatal(monkeypatch):
    rows = _run(monkeypatch, {("full-softmax", 800)})
    by = {(r["num_labels"], r["method"]): r for r in rows}
    assert by[(800, "full-softmax")]["status"] == "out of cpu memory"
    assert math.isnan(by[(800, "full-softmax")]["ms_per_query"])
    assert all(math.isfinite(by[(n, m)]["ms_per_query"]) for n in (200, 400, 800)
               for m in ("lsh-embedding", "exact", "uniform"))
    assert bench.flatness_span(rows) == (200, 800) and math.isfinite(bench.flatness(rows))


def test_a_size_whose_labels_do_not_fit_is_skipped_and_the_ratio_uses_the_largest_timed(monkeypatch):
    rows = _run(monkeypatch, {("labels", 800)})
    at_800 = [r for r in rows if r["num_labels"] == 800]
    assert {r["method"] for r in at_800} == {"rehash", "redraw", *bench.METHODS}
    assert all(r["status"] == "out of cpu memory" for r in at_800)
    assert bench.flatness_span(rows) == (200, 400)
    assert math.isfinite(bench.flatness(rows)) and bench.flatness_timing(rows) == "two medians taken apart"
