"""Constant-time benchmark: sampling time per query against the number of labels.

For each label count N: label vectors (the data layer's synthetic generator, or plain Gaussians), one LSH
index built over them (its rehash and redraw times recorded), then per method the median over ``repeats``
timed calls after ``warmup`` untimed ones, of one batch of ``batch`` queries. Methods: the LSH drawer, the exact
adaptive sampler (softmax over all N logits, then multinomial), uniform, and the full softmax forward+backward
(the cost sampling replaces). Rows are tidy: one per (N, method). The flatness ratio (largest N over smallest) is
timed apart, the two draws in turn round after round (:func:`workbench.timing.time_interleaved`), so a load change
on a shared machine between the sizes does not enter it.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..device import cpu_threads, release_cuda_memory
from ..progress import tqdm
from ..timing import median_seconds, time_interleaved
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
    (seconds for the whole table build, in ``ms_per_batch``; ``ms_per_query`` empty). The LSH row of the largest
    N also holds ``ratio_to_smallest``: its time over the smallest N's, the two timed in turn (see :func:`flatness`).

    ``threads`` > 0 sets torch's CPU threads for the bench (restored after): on a shared machine intra-op
    threads that wait on each other make small calls stall, which is noise, not cost.
    """
    with cpu_threads(threads if device.type == "cpu" else 0):
        return _bench(sizes, params, dim, batch, budget, repeats, warmup, device, source, seed, methods)


def _bench(sizes, params, dim, batch, budget, repeats, warmup, device, source, seed, methods) -> list[dict]:
    rows, smallest = [], None  # smallest: (row, draw call) of the LSH drawer at the smallest N, kept for the ratio
    for N in tqdm(sorted(sizes), desc="label counts"):
        base = {"num_labels": N, "device": device.type, "batch": batch, "budget": budget, "dim": dim,
                "threads": torch.get_num_threads() if device.type == "cpu" else 0}
        todo = ["rehash", "redraw", *methods]
        try:
            W = label_vectors(N, dim, source, seed, device)
            g = torch.Generator(device=device).manual_seed(seed + 1)
            q = W[torch.randint(N, (batch,), generator=g, device=device)]
            q = q + 0.5 * torch.randn(q.shape, generator=g, device=device) / dim ** 0.5   # queries near labels
            pos = torch.randint(N, (batch, 1), generator=g, device=device)
            index = build_index(params, dim, device)
            # a redraw is new functions + a rehash: time the draw alone and add the rehash, not a second rebuild;
            # one untimed call each first (the first CUDA call pays for cuBLAS handles and kernel loading), then
            # the median of up to 3 (a rebuild of 10^7 labels takes ~9 s on a CPU)
            rebuilds = min(repeats, 3)
            draw_s = median_seconds(lambda: index.family.redraw(index.fn_generator), device, rebuilds, 1)
            rehash_s = median_seconds(lambda: index.rehash(W), device, rebuilds, 1)
        except torch.OutOfMemoryError:  # the labels or their tables do not fit: nothing at this N
            rows += _out_of_memory(base, todo, device)
            continue
        for what, sec in (("rehash", rehash_s), ("redraw", draw_s + rehash_s)):
            rows.append({**base, "method": what, "ms_per_batch": 1e3 * sec, "ms_per_query": float("nan")})
        for m in methods:
            try:
                if m == "full-softmax":
                    fn = full_softmax_step(q, W, pos[:, 0])
                else:
                    draw = DRAWERS.get(m)(N, budget, index=index)
                    fn = (lambda d=draw, q=q, pos=pos, W=W, g=g: d(q, pos, W, g))  # bound now: kept for the ratio
                sec = median_seconds(fn, device, repeats, warmup, min_seconds=0.25)
            except torch.OutOfMemoryError:  # this method at this N (the full softmax's (B, N) logits): skipped
                rows += _out_of_memory(base, [m], device)
                continue
            rows.append({**base, "method": m, "ms_per_batch": 1e3 * sec, "ms_per_query": 1e3 * sec / batch})
            if m == "lsh-embedding" and smallest is None:
                smallest = (rows[-1], fn)
            elif m == "lsh-embedding" and N == max(sizes):
                rows[-1]["ratio_to_smallest"] = _interleaved_ratio(smallest, fn, sec, repeats, device)
        del W, index
    return rows


def _out_of_memory(base: dict, methods: list[str], device: torch.device) -> list[dict]:
    """Rows for ``methods`` that ran out of device memory at ``base``'s N (no time; ``status`` says why), after
    freeing what the failed call left (its traceback holds tensors until a gc pass)."""
    release_cuda_memory()
    return [{**base, "method": m, "ms_per_batch": float("nan"), "ms_per_query": float("nan"),
             "status": f"out of {device.type} memory"} for m in methods]


def _interleaved_ratio(smallest: tuple[dict, Callable[[], object]], large: Callable[[], object], large_s: float,
                       repeats: int, device: torch.device) -> float:
    """Median time of ``large`` over that of the smallest N's draw, the two called in turn for at least
    ``repeats`` (and 5) rounds, more until about half a second is timed (at most 200)."""
    small_row, small = smallest
    per_round = large_s + small_row["ms_per_batch"] / 1e3
    rounds = min(200, max(repeats, 5, math.ceil(0.5 / per_round)))
    t_small, t_large = time_interleaved([small, large], device, rounds)
    return t_large / t_small


def _measured(rows: list[dict], method: str) -> list[dict]:
    """``method``'s rows with a time (not out of memory), by N."""
    return sorted((r for r in rows if r["method"] == method and math.isfinite(r["ms_per_query"])),
                  key=lambda r: r["num_labels"])


def flatness_span(rows: list[dict], method: str = "lsh-embedding") -> tuple[int, int] | None:
    """The smallest and largest N at which ``method`` was timed (a larger one may have run out of memory), or
    None with fewer than two."""
    mine = _measured(rows, method)
    return (mine[0]["num_labels"], mine[-1]["num_labels"]) if len({r["num_labels"] for r in mine}) >= 2 else None


def flatness_timing(rows: list[dict], method: str = "lsh-embedding") -> str:
    """How :func:`flatness` got its ratio: timed in turn, or from two medians taken apart (a single size, or rows
    from before the in-turn timing)."""
    largest = _measured(rows, method)[-1]
    return ("the two timed in turn" if math.isfinite(largest.get("ratio_to_smallest", math.nan))
            else "two medians taken apart")


def flatness(rows: list[dict], method: str = "lsh-embedding") -> float:
    """Time per query at the largest N over time at the smallest N, for ``method`` (goal: <= 1.3), among the sizes
    it was timed at: the ratio timed in turn (``ratio_to_smallest``) where the largest N's row has one, else the
    ratio of the two rows' medians. NaN with fewer than two sizes (one size compared with itself would read
    1.00)."""
    mine = _measured(rows, method)
    if flatness_span(rows, method) is None:
        return math.nan
    ratio = mine[-1].get("ratio_to_smallest", math.nan)
    return ratio if math.isfinite(ratio) else mine[-1]["ms_per_query"] / mine[0]["ms_per_query"]


def flatness_note(rows: list[dict], method: str = "lsh-embedding", apart: float = 1.25) -> str | None:
    """Where the figure's two medians (each size timed on its own, minutes apart) give a ratio more than ``apart``
    times off the in-turn one :func:`flatness` reads, a line saying both; None otherwise."""
    mine = _measured(rows, method)
    in_turn = mine[-1].get("ratio_to_smallest", math.nan) if mine else math.nan
    if not math.isfinite(in_turn):
        return None
    medians = mine[-1]["ms_per_query"] / mine[0]["ms_per_query"]
    if not math.isfinite(medians) or max(medians / in_turn, in_turn / medians) <= apart:
        return None
    why = ("the smallest size, timed first, ran slower (warm-up, or the machine's load then)" if medians < in_turn
           else "the machine's load differed between the sizes' timings")
    return (f"the table's and figure's medians, each size timed on its own, give {medians:.2f}: {why}; the ratio "
            f"timed in turn, {in_turn:.2f}, is the reading")
