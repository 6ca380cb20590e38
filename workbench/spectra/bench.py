"""HVP cost relative to a gradient: medians of repeats after warm-up, every method timed in turn in each round.

Methods: ``grad`` (forward + backward), ``hvp_double_backward`` (forward + backward with graph + one more
backward), ``hvp_double_backward_kept`` (only the extra backward: the gradient graph kept across HVPs, as in
Lanczos), ``hvp_func`` (``torch.func`` jvp of grad: forward-over-reverse, eager), and the GGN matvec of
:func:`hvp.curvature_operator` with the network graph kept, J v by the double-vjp trick (``ggn_kept``) or in
forward mode (``ggn_func``). GPU peak memory is recorded relative to the gradient's when on CUDA (NaN on CPU),
for the kept methods with their graphs built in the measured call (a spectra run holds them).
Every method runs with BatchNorm in the one mode given (``bn``), recorded in the rows.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.func import functional_call, grad, jvp

from ..timing import time_interleaved
from .hvp import bn_mode, curvature_operator, flatten, trainable


def _peak_bytes(fn: Callable[[], object], dev) -> float:
    """Peak CUDA bytes of one call of ``fn`` above what was allocated before it (NaN off CUDA)."""
    if dev.type != "cuda":
        return float("nan")
    torch.cuda.reset_peak_memory_stats(dev)
    base = torch.cuda.memory_allocated(dev)
    fn()
    torch.cuda.synchronize(dev)
    return torch.cuda.max_memory_allocated(dev) - base


def hvp_cost(model, loss_fn, x, y, repeats: int = 10, warmup: int = 2, bn: str = "eval") -> list[dict]:
    """One row per method: median_ms, ratio_to_grad (time), mem_ratio_to_grad (CUDA only), batch_size,
    bn_mode (``bn``: "eval" or "train", for every method alike; the model's modes are restored after)."""
    with bn_mode(model, bn):
        return _hvp_cost(model, loss_fn, x, y, repeats, warmup, bn)


def _hvp_cost(model, loss_fn, x, y, repeats: int, warmup: int, bn: str) -> list[dict]:
    dev = x.device
    named = trainable(model)
    names, params = list(named), list(named.values())
    v = [torch.randn_like(p) for p in params]

    def grad_only():
        return torch.autograd.grad(loss_fn(model(x), y), params)

    def double_backward():
        g = torch.autograd.grad(loss_fn(model(x), y), params, create_graph=True)
        return torch.autograd.grad(g, params, grad_outputs=v)

    g_kept = torch.autograd.grad(loss_fn(model(x), y), params, create_graph=True)

    def kept():
        return torch.autograd.grad(g_kept, params, grad_outputs=v, retain_graph=True)

    def loss_of(p):  # in train mode bn_mode turned off running-stat updates, which torch.func would refuse
        return loss_fn(functional_call(model, dict(zip(names, p)), (x,)), y)

    def func():
        return jvp(grad(loss_of), (tuple(p.detach() for p in params),), (tuple(v),))[1]

    v_flat = flatten(v)
    ggn = {m: curvature_operator(model, loss_fn, [(x, y)], curvature="ggn", method=m, bn=bn)
           for m in ("double_backward", "func")}

    methods = {"grad": grad_only, "hvp_double_backward": double_backward,
               "hvp_double_backward_kept": kept, "hvp_func": func,
               "ggn_kept": lambda: ggn["double_backward"](v_flat), "ggn_func": lambda: ggn["func"](v_flat)}

    def fresh_ggn(m: str):
        return curvature_operator(model, loss_fn, [(x, y)], curvature="ggn", method=m, bn=bn)(v_flat)

    # peak memory of a matvec with what it keeps built in the same call (what a spectra run holds): the kept
    # graphs above were built before the measurement and would not count, and a method that keeps none (func)
    # would read as the memory-hungry one
    memory = {**methods, "hvp_double_backward_kept": double_backward, "ggn_kept": lambda: fresh_ggn("double_backward"),
              "ggn_func": lambda: fresh_ggn("func")}
    # the methods timed in turn within each round, so that load on a shared machine hits every ratio's two sides
    # alike; then one call each for its peak memory (warm by then)
    times = time_interleaved(list(methods.values()), dev, repeats, warmup)
    res = {k: (t, _peak_bytes(memory[k], dev)) for k, t in zip(methods, times)}
    t0, m0 = res["grad"]
    return [{"method": k, "batch_size": len(x), "bn_mode": bn, "median_ms": 1e3 * t, "ratio_to_grad": t / t0,
             "mem_ratio_to_grad": m / m0 if m0 == m0 and m0 > 0 else float("nan"), "repeats": repeats}
            for k, (t, m) in res.items()]


# which bench rows time each curvature's matvec as the spectra run it (graph kept across matvecs), per method
_MATVEC_ROWS = {"hessian": {"double_backward": "hvp_double_backward_kept", "func": "hvp_func"},
                "ggn": {"double_backward": "ggn_kept", "func": "ggn_func"}}


#: the study's bar for a matvec (issue: "HVP cost <= 2x a gradient at batch >= 256 and memory <= 2x")
HVP_BAR = {"min_batch": 256, "time": 2.0, "memory": 2.0}


def hvp_bar_lines(cost: "pd.DataFrame", methods: dict[str, str]) -> list[str]:
    """One line per curvature: the matvec its spectra run (``methods``, as :func:`fastest_methods` returns) against
    :data:`HVP_BAR` on the rows of :func:`hvp_cost` at batch sizes >= its ``min_batch``: the worst time ratio to a
    gradient and the worst peak-memory ratio (CUDA only; a kept method's memory includes building its graph)."""
    big = cost[cost["batch_size"] >= HVP_BAR["min_batch"]]
    if big.empty:
        return [f"HVP bar (<= {HVP_BAR['time']:g}x a gradient in time and memory at B >= {HVP_BAR['min_batch']}): "
                f"not judged, no benched batch size reaches {HVP_BAR['min_batch']} (bench_batch_sizes)"]
    lines = []
    for curv, method in methods.items():
        d = big[big["method"] == _MATVEC_ROWS[curv][method]]
        if d.empty:
            continue
        t, m = d["ratio_to_grad"].max(), d["mem_ratio_to_grad"].max()
        sizes = ", ".join(str(b) for b in sorted(d["batch_size"].unique()))
        lines.append(f"{curv} matvec ({_MATVEC_ROWS[curv][method]}) at B = {sizes}: time {t:.2f}x a gradient "
                     f"(bar <= {HVP_BAR['time']:g}: {'met' if t <= HVP_BAR['time'] else 'not met'}); memory "
                     + (f"{m:.2f}x (bar <= {HVP_BAR['memory']:g}: {'met' if m <= HVP_BAR['memory'] else 'not met'})"
                        if m == m else "not measured (peak memory is read on CUDA only)"))
    return lines


def fastest_methods(cost: "pd.DataFrame", max_memory_vs_double_backward: float = 1.5) -> dict[str, str]:
    """``{"hessian": method, "ggn": method}``: for each curvature, the :data:`hvp.METHODS` entry whose matvec
    had the lower median time relative to a gradient over the batch sizes of ``cost`` (rows of
    :func:`hvp_cost`), among those whose median peak memory (measured on CUDA only) is at most
    ``max_memory_vs_double_backward`` times double backward's: the bench runs small batches, the spectra up to
    thousands of examples, where a memory-hungrier method could run out."""
    g = cost.groupby("method")
    ratio, mem = g["ratio_to_grad"].median(), g["mem_ratio_to_grad"].median()

    def allowed(row: str, base: str) -> bool:
        return not mem[row] > max_memory_vs_double_backward * mem[base]  # NaN (CPU): allowed

    return {curv: min((m for m in rows if allowed(rows[m], rows["double_backward"])), key=lambda m: ratio[rows[m]])
            for curv, rows in _MATVEC_ROWS.items()}
