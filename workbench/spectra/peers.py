"""Peers beside our Lanczos on the same model, batch and BN mode: PyHessian and curvlinops (+ scipy eigsh).

Rows: tool, method, seed, lambda_max, seconds, matvecs (where known). Seconds are the median of ``repeats`` runs
after ``warmup`` untimed ones, each run including the tool's own set-up (building the gradient graph); ours and
PyHessian get the same repeats and are timed in turn, round by round (:func:`workbench.timing.time_interleaved`).
Tools whose answer depends on a random start vector (ours, PyHessian) are run from several seeds; :func:`summary` takes
medians over them. :func:`compare` adds the relative error to a long Lanczos reference. With ``trace_iter``,
PyHessian's Hutchinson trace and ours (:func:`workbench.spectra.trace.hutchinson`, as many Rademacher probes) are
timed beside them: rows with a ``trace`` (and for ours its standard error), no ``lambda_max``.

PyHessian's ``density()`` calls ``torch.eig``, removed from torch 2.x, so it is not run (we say so in the table
rather than patch it). PyHessian also forces ``model.eval()``, so it only measures the eval-mode BN Hessian; it
runs on a deep copy of the model.
"""
from __future__ import annotations

import copy
import sys
import warnings
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..timing import median_seconds, time_interleaved
from .hvp import curvature_operator
from .lanczos import ESTIMATES, lanczos
from .power import power_iteration
from .trace import hutchinson

PYHESSIAN_DENSITY_NOTE = "pyhessian.hessian.density calls torch.eig (removed in torch 2.x); not run, not patched"


Run = tuple[Callable[[], None], dict]  # a timed call, and the dict it writes its answer into


def ours(model, loss_fn, x, y, bn: str, steps: int, seed: int = 0, tol: float = 0.0,
         method: str = "double_backward", estimate: str = "residual") -> tuple[dict, Run]:
    """Our Lanczos from seed ``seed`` as a row and its run; the run includes building the operator (one
    gradient graph). With ``tol`` > 0 it stops once the top Ritz value's relative error, by the ``estimate`` named
    (:func:`workbench.spectra.lanczos.top_error_estimate`), is below ``tol`` (at most ``steps``). The basis is kept
    in float32, the model's precision (a float64 one halves nothing of the error at these tolerances but doubled the
    bookkeeping on a CPU: Fashion-MNIST MLP, 118K parameters, 2 cores: 1.6 against 0.75 ms per step, beside a 3.0 ms
    matvec)."""
    dev = x.device
    out: dict = {}

    def go():
        op = curvature_operator(model, loss_fn, [(x, y)], bn=bn, method=method)
        res = lanczos(op, op.dim, min(steps, op.dim), generator=torch.Generator().manual_seed(seed), device=dev,
                      dtype=torch.float32, tol=tol, estimate=estimate)
        out.update(lambda_max=float(res.ritz[-1]), matvecs=res.steps, error_estimate=res.error_estimate)
    name = f"lanczos tol {tol:g} {estimate} (max {steps} steps)" if tol else f"lanczos {steps} steps"
    return {"tool": "workbench", "method": name, "seed": seed, "hvp_method": method}, (go, out)


def ours_power(model, loss_fn, x, y, bn: str, seed: int = 0, tol: float = 1e-3, iters: int = 100,
               method: str = "double_backward") -> tuple[dict, Run]:
    """Our power iteration (:func:`power.power_iteration`: PyHessian's scheme and stopping rule, the Rayleigh
    quotient's relative change below ``tol``, at most ``iters``) on our HVP, from seed ``seed``. Beside
    PyHessian's row at the same tolerance it separates the cost of the algorithm from that of the implementation
    (its HVP, its bookkeeping)."""
    out: dict = {}

    def go():
        op = curvature_operator(model, loss_fn, [(x, y)], bn=bn, method=method)
        values, _, used = power_iteration(op, op.dim, k=1, iters=iters, tol=tol, dtype=torch.float32,
                                          generator=torch.Generator().manual_seed(seed), device=x.device)
        out.update(lambda_max=values[0], matvecs=used[0])
    return ({"tool": "workbench", "method": f"power iteration (ours) tol {tol:g}", "seed": seed,
             "hvp_method": method}, (go, out))


def _pyhessian_module():
    from pyhessian import hessian  # noqa: F401  (ImportError here means: not installed)
    return sys.modules["pyhessian.hessian"]


def _count_pyhessian_matvecs(module, run: Callable[[], object]) -> int:
    """Hessian-vector products PyHessian makes in ``run()`` (an untimed extra run; its module is restored)."""
    original, calls = module.hessian_vector_product, [0]

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)
    module.hessian_vector_product = counting
    try:
        run()
    finally:
        module.hessian_vector_product = original
    return calls[0]


def ours_trace(model, loss_fn, x, y, bn: str, probes: int, seed: int = 0,
               method: str = "double_backward") -> tuple[dict, Run]:
    """Our Hutchinson trace from ``probes`` Rademacher vectors (seed ``seed``) as a row and its run (operator
    build included, as for the eigenvalue rows)."""
    out: dict = {}

    def go():
        op = curvature_operator(model, loss_fn, [(x, y)], bn=bn, method=method)
        est, se = hutchinson(op, op.dim, probes, generator=torch.Generator().manual_seed(seed), device=x.device,
                             dtype=torch.float32)
        out.update(trace=est, trace_se=se, matvecs=probes)
    return {"tool": "workbench", "method": f"hutchinson trace ({probes} probes)", "seed": seed,
            "lambda_max": float("nan"), "hvp_method": method}, (go, out)


def pyhessian_runs(model: nn.Module, loss_fn, x, y, bn: str, max_iter: int = 100, tols: Sequence[float] = (1e-3,),
                   trace_iter: int = 0, seeds: Sequence[int] = (0,)) -> list[tuple[dict, Run | None]]:
    """PyHessian power iteration at each tolerance of ``tols`` (its default 1e-3 first, 100 iterations at most)
    from each seed of torch's global generator (which draws its start vector), optionally its Hutchinson trace,
    and the density note. Its tolerance bounds the relative change of successive estimates, not the error: on an
    H100 (VGG-11, 2026-11-24) tol 1e-3 stopped at 7 matvecs 2.6e-3 off, so tighter rows show what PyHessian
    needs for a given accuracy."""
    if bn != "eval":
        return [({"tool": "pyhessian", "method": "power iteration", "lambda_max": float("nan"),
                  "seconds": float("nan"), "note": "pyhessian forces model.eval(): no train-mode BN"}, None)]
    module = _pyhessian_module()
    m = copy.deepcopy(model)
    cuda = x.device.type == "cuda"

    def make(seed: int, what: str, tol: float = 1e-3) -> Run:
        out: dict = {}

        def go():
            m.zero_grad(set_to_none=True)  # PyHessian reads .grad: start every run from none
            torch.manual_seed(seed)
            with warnings.catch_warnings():  # its backward(create_graph=True): torch warns of a cycle, every run
                warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
                h = module.hessian(m, loss_fn, data=(x, y), cuda=cuda)
            if what == "eig":
                out["lambda_max"] = float(h.eigenvalues(maxIter=max_iter, tol=tol, top_n=1)[0][0])
            else:
                out["trace"] = float(np.mean(h.trace(maxIter=trace_iter, tol=1e-3)))
        return go, out
    runs = []
    for tol in tols:
        for seed in seeds:
            run = make(seed, "eig", tol)
            runs.append(({"tool": "pyhessian", "method": f"power iteration tol {tol:g}", "seed": seed,
                          "matvecs": _count_pyhessian_matvecs(module, run[0])}, run))
    if trace_iter:
        runs.append(({"tool": "pyhessian", "method": "hutchinson trace", "seed": seeds[0],
                      "lambda_max": float("nan")}, make(seeds[0], "trace")))
    runs.append(({"tool": "pyhessian", "method": "density", "lambda_max": float("nan"), "seconds": float("nan"),
                  "note": PYHESSIAN_DENSITY_NOTE}, None))
    return runs


def curvlinops_row(model: nn.Module, loss_fn, x, y, bn: str, tol: float = 0.0, repeats: int = 2,
                   warmup: int = 1) -> dict:
    """curvlinops ``HessianLinearOperator`` as a scipy operator, top eigenvalue by ``scipy.sparse.linalg.eigsh``
    (deterministic start vector of ones, so one seed)."""
    from curvlinops import HessianLinearOperator
    from scipy.sparse.linalg import eigsh

    from .hvp import bn_mode, trainable
    out: dict = {}
    with bn_mode(model, bn):
        def go():
            op = HessianLinearOperator(model, loss_fn, list(trainable(model).values()), [(x, y)],
                                       check_deterministic=False).to_scipy()
            out["lambda_max"] = float(eigsh(op, k=1, which="LA", tol=tol, v0=np.ones(op.shape[0]),
                                            return_eigenvectors=False)[0])
        s = median_seconds(go, x.device, repeats=repeats, warmup=warmup)
    return {"tool": "curvlinops", "method": "HessianLinearOperator + eigsh", "seed": 0, **out, "seconds": s}


def _not_installed(package: str) -> dict:
    return {"tool": package, "method": f"not installed (pip install {package})", "lambda_max": float("nan"),
            "seconds": float("nan")}


def _optional(package: str, rows: Callable[[], list[dict]]) -> list[dict]:
    """A peer's rows, or one row saying it is not installed (it is an extra: ``pip install workbench[peers]``)."""
    try:
        return rows()
    except ImportError:
        return [_not_installed(package)]


def compare(model, x, y, bn: str, reference: float, our_steps=(5, 10, 20), tol: float = 1e-4, max_steps: int = 40,
            seeds: Sequence[int] = (0,), trace_iter: int = 0, repeats: int = 5, warmup: int = 1,
            curvlinops_repeats: int = 2, method: str = "double_backward",
            pyhessian_tols: Sequence[float] = (1e-3, 1e-5, 1e-6)) -> list[dict]:
    """All rows for mean cross-entropy, with ``rel_error = |lambda - reference| / |reference|`` and the BN mode.

    Ours: fixed ``our_steps`` and the adaptive rule at ``tol`` (at most ``max_steps``) with each error estimate
    (the residual bound first, then the Kato-Temple one, which stops sooner and can stop early), and power
    iteration at PyHessian's tolerance (1e-3), from every seed, with the HVP ``method`` given; PyHessian from the
    same seeds at each of ``pyhessian_tols`` (its default 1e-3 first: :func:`summary`'s ``x_pyhessian`` is against
    the first; tighter ones for the accuracy-matched ``x_pyhessian_matched``); all of these timed together by
    :func:`time_interleaved` (``timed``: "in turn"). curvlinops runs once (deterministic start) on its own, with
    ``curvlinops_repeats`` (10-20x slower than PyHessian's default on the CPU default; ``timed``: "apart", so its
    ratios to PyHessian compare timings taken minutes apart).
    The loss is an ``nn.CrossEntropyLoss`` module: curvlinops reads its ``reduction`` attribute.
    """
    loss_fn = nn.CrossEntropyLoss()
    configs = [(s, 0.0, "residual") for s in our_steps] + ([(max_steps, tol, e) for e in ESTIMATES] if tol > 0 else [])
    pairs = [ours(model, loss_fn, x, y, bn, s, seed=seed, tol=t, method=method, estimate=e)
             for s, t, e in configs for seed in seeds]
    pairs += [ours_power(model, loss_fn, x, y, bn, seed=seed, method=method) for seed in seeds]
    if trace_iter:
        pairs.append(ours_trace(model, loss_fn, x, y, bn, trace_iter, seed=seeds[0], method=method))
    try:
        pairs += pyhessian_runs(model, loss_fn, x, y, bn, tols=pyhessian_tols, trace_iter=trace_iter, seeds=seeds)
    except ImportError:
        pairs += [(_not_installed("pyhessian"), None)]
    timed = [(row, run) for row, run in pairs if run is not None]
    for (row, (_, out)), s in zip(timed, time_interleaved([run[0] for _, run in timed], x.device, repeats, warmup)):
        row.update(out, seconds=s, timed="in turn")
    rows = [row for row, _ in pairs]
    rows += [{**r, "timed": "apart"} if r["seconds"] == r["seconds"] else r for r in _optional(
        "curvlinops-for-pytorch",
        lambda: [curvlinops_row(model, loss_fn, x, y, bn, repeats=curvlinops_repeats, warmup=warmup)])]
    for r in rows:
        r.update(bn_mode=bn, batch_size=len(x), reference=reference,
                 rel_error=abs(r["lambda_max"] - reference) / abs(reference))
    return rows


def summary(peer, matched_tol: float = 1e-4) -> "pd.DataFrame":
    """Per (tool, method) over seeds: median seconds and matvecs, median and worst relative error, seconds per
    matvecs, the median time as a multiple of PyHessian's first power-iteration row (its default tolerance;
    ``x_pyhessian``, NaN without it) and of the fastest PyHessian power-iteration row whose worst error is within
    ``matched_tol`` (``x_pyhessian_matched``: equal accuracy; NaN when none is), and the median ``trace`` (and
    ours ``trace_se``, its standard error over probes) where trace rows are present, and how the tool was timed
    (``timed``: in turn with PyHessian, or apart)."""
    d = peer.dropna(subset=["seconds"])
    g = d.groupby(["tool", "method"], sort=False)
    extra = {"trace": ("trace", "median")} if "trace" in d else {}
    if "timed" in d:  # "in turn" with PyHessian, or "apart" (curvlinops): how far its x_pyhessian can be trusted
        extra["timed"] = ("timed", "first")
    if "trace_se" in d:
        extra["trace_se"] = ("trace_se", "median")
    out = g.agg(seeds=("seconds", "size"), seconds=("seconds", "median"), matvecs=("matvecs", "median"),
                rel_error_median=("rel_error", "median"), rel_error_max=("rel_error", "max"), **extra).reset_index()
    out["ms_per_matvec"] = 1e3 * out.seconds / out.matvecs
    pyh = out[(out.tool == "pyhessian") & out.method.str.startswith("power iteration")].seconds
    out["x_pyhessian"] = out.seconds / float(pyh.iloc[0]) if len(pyh) else float("nan")
    within = pyh[out.loc[pyh.index, "rel_error_max"] <= matched_tol]
    out["x_pyhessian_matched"] = out.seconds / float(within.min()) if len(within) else float("nan")
    return out


def for_display(summary) -> "pd.DataFrame":
    """A :func:`summary` table rounded for reading: times to 4 decimals, relative errors in scientific notation
    with 2 digits (strings; empty where there is none)."""
    out = summary.round({"seconds": 4, "matvecs": 0, "trace": 4, "trace_se": 4, "ms_per_matvec": 3, "x_pyhessian": 2,
                         "x_pyhessian_matched": 2})
    for c in ("rel_error_median", "rel_error_max"):
        out[c] = [f"{v:.1e}" if v == v else "" for v in summary[c]]
    return out

