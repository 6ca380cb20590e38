"""Peers beside our Lanczos on the same model, batch and BN mode: PyHessian and curvlinops (+ scipy eigsh).

Each returns a row: tool, method, lambda_max, seconds, matvecs (where known). The study adds the relative
error to a long Lanczos reference. PyHessian's ``density()`` calls ``torch.eig``, removed from torch 2.x, so
it is not run (we say so in the table rather than patch it). PyHessian also forces ``model.eval()``, so it
only measures the eval-mode BN Hessian; its power iteration and trace are run on a deep copy of the model.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from .hvp import curvature_operator
from .lanczos import lanczos

PYHESSIAN_DENSITY_NOTE = "pyhessian.hessian.density calls torch.eig (removed in torch 2.x); not run, not patched"


def _timed(fn: Callable[[], float]) -> tuple[float, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def ours(model, loss_fn, x, y, bn: str, steps: int, seed: int = 0, tol: float = 0.0) -> dict:
    """Our Lanczos, timed including building the operator (one gradient graph); ``tol`` > 0 stops early."""
    dev = x.device

    def go():
        op = curvature_operator(model, loss_fn, [(x, y)], bn=bn)
        res = lanczos(op, op.dim, min(steps, op.dim), generator=torch.Generator().manual_seed(seed), device=dev,
                      dtype=torch.float32 if dev.type == "cuda" else torch.float64, tol=tol)
        return float(res.ritz[-1]), res.steps
    (lam, used), s = _timed(go)
    name = f"lanczos tol {tol:g} (max {steps} steps)" if tol else f"lanczos {steps} steps"
    return {"tool": "workbench", "method": name, "lambda_max": lam, "seconds": s, "matvecs": used}


def pyhessian_rows(model: nn.Module, loss_fn, x, y, bn: str, max_iter: int = 100, tol: float = 1e-3,
                   trace_iter: int = 0) -> list[dict]:
    """PyHessian power iteration (its defaults: tol 1e-3, 100 iterations) and optionally its trace."""
    if bn != "eval":
        return [{"tool": "pyhessian", "method": "power iteration", "lambda_max": float("nan"), "seconds": float("nan"),
                 "note": "pyhessian forces model.eval(): no train-mode BN"}]
    from pyhessian import hessian
    m = copy.deepcopy(model)
    cuda = x.device.type == "cuda"
    torch.manual_seed(0)

    def go():
        h = hessian(m, loss_fn, data=(x, y), cuda=cuda)
        return float(h.eigenvalues(maxIter=max_iter, tol=tol, top_n=1)[0][0])
    lam, s = _timed(go)
    rows = [{"tool": "pyhessian", "method": f"power iteration tol {tol:g}", "lambda_max": lam, "seconds": s}]
    if trace_iter:
        h = hessian(m, loss_fn, data=(x, y), cuda=cuda)
        tr, s = _timed(lambda: float(np.mean(h.trace(maxIter=trace_iter, tol=1e-3))))
        rows.append({"tool": "pyhessian", "method": "hutchinson trace", "lambda_max": float("nan"),
                     "trace": tr, "seconds": s})
    rows.append({"tool": "pyhessian", "method": "density", "lambda_max": float("nan"), "seconds": float("nan"),
                 "note": PYHESSIAN_DENSITY_NOTE})
    return rows


def curvlinops_row(model: nn.Module, loss_fn, x, y, bn: str, tol: float = 0.0) -> dict:
    """curvlinops ``HessianLinearOperator`` as a scipy operator, top eigenvalue by ``scipy.sparse.linalg.eigsh``."""
    from curvlinops import HessianLinearOperator
    from scipy.sparse.linalg import eigsh

    from .hvp import bn_mode, trainable
    with bn_mode(model, bn):
        def go():
            op = HessianLinearOperator(model, loss_fn, list(trainable(model).values()), [(x, y)],
                                       check_deterministic=False).to_scipy()
            return float(eigsh(op, k=1, which="LA", tol=tol, v0=np.ones(op.shape[0]), return_eigenvectors=False)[0])
        lam, s = _timed(go)
    return {"tool": "curvlinops", "method": "HessianLinearOperator + eigsh", "lambda_max": lam, "seconds": s}


def _optional(package: str, rows: Callable[[], list[dict]]) -> list[dict]:
    """A peer's rows, or one row saying it is not installed (it is an extra: ``pip install workbench[peers]``)."""
    try:
        return rows()
    except ImportError:
        return [{"tool": package, "method": f"not installed (pip install {package})", "lambda_max": float("nan"),
                 "seconds": float("nan")}]


def compare(model, x, y, bn: str, reference: float, our_steps=(5, 10, 20), trace_iter: int = 0) -> list[dict]:
    """All rows for mean cross-entropy, with ``rel_error = |lambda - reference| / |reference|`` and the BN mode.

    The loss is an ``nn.CrossEntropyLoss`` module: curvlinops reads its ``reduction`` attribute.
    """
    loss_fn = nn.CrossEntropyLoss()
    rows = [ours(model, loss_fn, x, y, bn, s) for s in our_steps] + [ours(model, loss_fn, x, y, bn, 40, tol=1e-5)]
    rows += _optional("pyhessian", lambda: pyhessian_rows(model, loss_fn, x, y, bn, trace_iter=trace_iter))
    rows += _optional("curvlinops-for-pytorch", lambda: [curvlinops_row(model, loss_fn, x, y, bn)])
    for r in rows:
        r.update(bn_mode=bn, batch_size=len(x), reference=reference,
                 rel_error=abs(r["lambda_max"] - reference) / abs(reference))
    return rows
