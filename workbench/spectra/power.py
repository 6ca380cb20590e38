"""Power iteration with deflation: the slow, simple reference for the top eigenvalues of a matvec.

Finds the eigenvalues of largest magnitude one at a time, orthogonalising against those already found (the
scheme PyHessian uses). Converges at rate |lambda_2 / lambda_1| per step, so it is a reference, not a tool.
"""
from __future__ import annotations

import torch

from .lanczos import MatVec, rademacher


def power_iteration(matvec: MatVec, dim: int, k: int = 1, iters: int = 200, tol: float = 1e-7,
                    generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64,
                    device: str | torch.device = "cpu") -> tuple[list[float], list[torch.Tensor], list[int]]:
    """Top-``k`` (by magnitude) eigenvalues, unit eigenvectors ``(dim,)`` and iterations used for each.

    Stops an eigenvalue when the Rayleigh quotient changes by less than ``tol`` (relative).
    """
    values, vectors, used = [], [], []
    for _ in range(k):
        v = rademacher(dim, generator, dtype, device)
        lam, it = None, 0
        for it in range(1, iters + 1):
            for u in vectors:
                v = v - torch.dot(u, v) * u
            v = v / v.norm()
            w = matvec(v).to(dtype)
            new = float(torch.dot(w, v))
            v = w
            if lam is not None and abs(new - lam) <= tol * (abs(lam) + 1e-12):
                lam = new
                break
            lam = new
        for u in vectors:
            v = v - torch.dot(u, v) * u
        values.append(lam)
        vectors.append(v / v.norm())
        used.append(it)
    return values, vectors, used
