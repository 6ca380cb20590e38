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

    Stops an eigenvalue when the Rayleigh quotient changes by less than ``tol`` (relative), or at once when
    ``|A v|`` is 0 (for the first) or at most 1e-12 of the first eigenvalue's magnitude (for the others): what is
    left after deflation is the null space (a zero or low-rank operator), eigenvalue ~0.
    """
    if not 1 <= k <= dim:
        raise ValueError(f"k must be in [1, dim={dim}], got {k}")
    values, vectors, used = [], [], []
    for _ in range(k):
        v = _start(dim, vectors, generator, dtype, device)
        lam, it = None, 0
        null = 1e-12 * abs(values[0]) if values else 0.0  # |A v| at or below this: eigenvalue 0 (rounding)
        for it in range(1, iters + 1):
            for u in vectors:
                v = v - torch.dot(u, v) * u
            v = v / v.norm()
            w = matvec(v).to(dtype)
            new = float(torch.dot(w, v))
            if float(w.norm()) <= null:  # A v ~ 0 (beside the deflated part): v is in the null space, and
                lam = new                 # normalising w (0, or rounding noise) would give NaN or noise
                break
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


def _start(dim: int, vectors: list[torch.Tensor], generator: torch.Generator | None, dtype: torch.dtype,
           device: str | torch.device) -> torch.Tensor:
    """A unit start vector orthogonal to ``vectors``: a Rademacher draw, deflated. In a small space that draw can
    lie in their span (e.g. (1, 1, -1) against (0, 1, -1) and (1, 0, 0)) and deflate to ~0; then Gaussian draws,
    which almost surely do not."""
    v = rademacher(dim, generator, dtype, device)
    for _ in range(100):
        for u in vectors:
            v = v - torch.dot(u, v) * u
        norm = float(v.norm())
        if not norm <= 1e-6:  # NaN too: the matvec's NaN is the caller's to see, not a reason to loop
            return v / norm
        gen_device = generator.device if generator is not None else "cpu"
        v = torch.randn(dim, generator=generator, dtype=dtype, device=gen_device).to(device)
    raise RuntimeError(f"no start vector orthogonal to {len(vectors)} found vectors in {dim} dimensions")
