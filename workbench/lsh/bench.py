"""Constant-time benchmark: sampling time per query against the number of labels.

For each label count N: label vectors (the data layer's synthetic generator, or plain Gaussians), one LSH
index built over them (its rehash and redraw times recorded), then per method the median over ``repeats``
timed calls after ``warmup`` untimed ones, of one batch of ``batch`` queries. Methods: the LSH drawer, the exact
adaptive sampler (softmax over all N logits, then multinomial), uniform, and the full softmax forward+backward
(the cost sampling replaces). Rows are tidy: one per (N, method).
"""
from __future__ import annotations

from typing import Callable

import torch

from ..device import cpu_threads
from ..progress import tqdm
from ..timing import median_seconds
from .drawers import DRAWERS
from .params import LSHParams, build_index

METHODS = ("lsh-embedding", "exact", "uniform", "full-softmax")


def label_vectors(num_labels: int, dim: int, source: str, seed: int, device: torch.device) -> torch.Tensor:
    """(N, dim) float32 label vectors on ``device``: ``"synthetic"`` (clustered, from
    :func:`workbench.xmc.synthetic.make_synthetic`) or ``"gaussian"`` (i.i.d., generated on the device)."""
    if source == "synthetic":
        from ..xmc.synthetic import make_synthetic
        return make_synthetic(num_labels, num_points=64, dim=dim, labels_per_point=1.0, seed=seed).label_emb.to(device)
    if source == "gaussian":
        g = torch.Generator(device=device).manual_seed(seed)
        return torch.randn(num_labels, dim, generator=g, device=device)
    raise ValueError(f"unknown label source {source!r}; known: ['gaussian', 'synthetic']")


def full_softmax_step(q: torch.Tensor, W: torch.Tensor, targets: torch.Tensor) -> Callable[[], None]:
    """Forward + backward of the full softmax cross-entropy over all N labels (grads of q and W)."""
    Wp = W.detach().requires_grad_(True)
    qp = q.detach().requires_grad_(True)

    def step():
        loss = torch.nn.functional.cross_entropy(qp @ Wp.T, targets)
        loss.backward()
        Wp.grad = qp.grad = None
    return step


def bench_sizes(sizes: list[int], params: LSHParams, dim: int, batch: int, budget: int, repeats: int,
                warmup: int, device: torch.device, source: str = "synthetic", seed: int = 0,
                methods: tuple[str, ...] = METHODS, threads: int = 0) -> list[dict]:
    """Tidy rows ``{num_labels, method, ms_per_query, ms_per_batch, ...}`` plus ``rehash``/``redraw`` rows
    (seconds for the whole table build, in ``ms_per_batch``; ``ms_per_query`` empty).

    ``threads`` > 0 sets torch's CPU threads for the bench (restored after): on a shared machine intra-op
    threads that wait on each other make small calls stall, which is noise, not cost.
    """
    with cpu_threads(threads if device.type == "cpu" else 0):
        return _bench(sizes, params, dim, batch, budget, repeats, warmup, device, source, seed, methods)


def _bench(sizes, params, dim, batch, budget, repeats, warmup, device, source, seed, methods) -> list[dict]:
    rows = []
    for N in tqdm(sizes, desc="label counts"):
        W = label_vectors(N, dim, source, seed, device)
        g = torch.Generator(device=device).manual_seed(seed + 1)
        q = W[torch.randint(N, (batch,), generator=g, device=device)]
        q = q + 0.5 * torch.randn(q.shape, generator=g, device=device) / dim ** 0.5   # queries near labels
        pos = torch.randint(N, (batch, 1), generator=g, device=device)
        index = build_index(params, dim, device)
        base = {"num_labels": N, "device": device.type, "batch": batch, "budget": budget, "dim": dim,
                "threads": torch.get_num_threads() if device.type == "cpu" else 0}
        # a redraw is new functions + a rehash: time the draw alone and add the rehash, not a second rebuild
        # one untimed call each first (the first CUDA call pays for cuBLAS handles and kernel loading), then the
        # median of up to 3 (a rebuild of 10^7 labels takes ~9 s on a CPU)
        rebuilds = min(repeats, 3)
        draw_s = median_seconds(lambda: index.family.redraw(index.fn_generator), device, rebuilds, 1)
        rehash_s = median_seconds(lambda: index.rehash(W), device, rebuilds, 1)
        for what, sec in (("rehash", rehash_s), ("redraw", draw_s + rehash_s)):
            rows.append({**base, "method": what, "ms_per_batch": 1e3 * sec, "ms_per_query": float("nan")})
        for m in methods:
            if m == "full-softmax":
                fn = full_softmax_step(q, W, pos[:, 0])
            else:
                draw = DRAWERS.get(m)(N, budget, index=index)
                fn = (lambda d=draw: d(q, pos, W, g))
            sec = median_seconds(fn, device, repeats, warmup, min_seconds=0.25)
            rows.append({**base, "method": m, "ms_per_batch": 1e3 * sec, "ms_per_query": 1e3 * sec / batch})
        del W, index
    return rows


def flatness(rows: list[dict], method: str = "lsh-embedding") -> float:
    """Time per query at the largest N over time at the smallest N, for ``method`` (goal: <= 1.3)."""
    mine = sorted((r["num_labels"], r["ms_per_query"]) for r in rows if r["method"] == method)
    return mine[-1][1] / mine[0][1]
