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

    Stops an eigenvalue when the Rayleigh quotient changes by less than ``tol`` (relative). Where ``A v``, less its
    parts along the vectors already found, is exactly 0, normalising it would give NaN: at the first iteration the
    start may be a structured vector in the null space (a +-1 vector of an operator with integer entries), so one
    Gaussian start is tried instead; a second 0 (or one later on) means what is left is null: eigenvalue 0, as
    when ``A v`` lies in the span of the vectors found to rounding (past the operator's rank: :func:`_orthonormal`).
    """
    if not 1 <= k <= dim:
        raise ValueError(f"k must be in [1, dim={dim}], got {k}")
    values, vectors, used = [], [], []
    for _ in range(k):
        v = _start(dim, vectors, generator, dtype, device)
        lam, it, redrawn = None, 0, False
        for it in range(1, iters + 1):
            w = matvec(v).to(dtype)
            new = float(torch.dot(w, v))
            nxt = _orthonormal(w, vectors)
            if nxt is None:
                if lam is None and not redrawn:  # the start missed the range: one Gaussian start instead
                    v, redrawn = _start(dim, vectors, generator, dtype, device, gaussian=True), True
                    continue
                lam = new
                break
            v = nxt
            if lam is not None and abs(new - lam) <= tol * (abs(lam) + 1e-12):
                lam = new
                break
            lam = new
        values.append(lam)
        vectors.append(v)
        used.append(it)
    return values, vectors, used


def _orthonormal(w: torch.Tensor, vectors: list[torch.Tensor]) -> torch.Tensor | None:
    """``w`` less its parts along the unit, orthogonal ``vectors`` (two Gram-Schmidt passes), normalised; None where
    nothing is left: exactly 0, or, with vectors, a remainder below 1e-12 of ``w``'s norm (``w`` lies in their span
    to rounding, and normalising that noise would bring their directions back at full size). NaN passes through."""
    before = float(w.norm())
    for _ in range(2 if vectors else 0):
        for u in vectors:
            w = w - torch.dot(u, w) * u
    norm = float(w.norm())
    if norm == 0.0 or (vectors and norm <= 1e-12 * before):
        return None
    return w / norm


def _start(dim: int, vectors: list[torch.Tensor], generator: torch.Generator | None, dtype: torch.dtype,
           device: str | torch.device, gaussian: bool = False) -> torch.Tensor:
    """A unit start vector orthogonal to ``vectors``: a Rademacher draw (``gaussian``: a Gaussian one), deflated. In
    a small space a Rademacher draw can lie in their span (e.g. (1, 1, -1) against (0, 1, -1) and (1, 0, 0)) and
    deflate to ~0; then Gaussian draws, which almost surely do not."""
    gen_device = generator.device if generator is not None else "cpu"
    v = (torch.randn(dim, generator=generator, dtype=dtype, device=gen_device).to(device) if gaussian
         else rademacher(dim, generator, dtype, device))
    for _ in range(100):
        rest = v
        for u in vectors:
            rest = rest - torch.dot(u, rest) * u
        if not float(rest.norm()) <= 1e-6 * float(v.norm()):  # NaN passes: the matvec's NaN is the caller's
            return _orthonormal(rest, vectors)
        v = torch.randn(dim, generator=generator, dtype=dtype, device=gen_device).to(device)
    raise RuntimeError(f"no start vector orthogonal to {len(vectors)} found vectors in {dim} dimensions")
