"""Lanczos with full reorthogonalisation on any matvec, and stochastic Lanczos quadrature (SLQ) probes.

Knows nothing of networks: ``matvec`` maps a 1-D tensor of length ``dim`` to one of the same length.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import torch

MatVec = Callable[[torch.Tensor], torch.Tensor]


@dataclasses.dataclass
class LanczosResult:
    """Ritz values ``(k,)`` ascending, their quadrature weights ``(k,)`` (squared first components of the
    tridiagonal's eigenvectors; sum to 1), the tridiagonal ``alpha (k,)``, ``beta (k-1,)`` (float64), and
    ``orthogonality_loss = max |Q^T Q - I|`` of the Krylov basis (large means spurious copies of Ritz values)."""
    ritz: np.ndarray
    weights: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    orthogonality_loss: float
    steps: int


def rademacher(dim: int, generator: torch.Generator | None = None, dtype=torch.float64, device=None) -> torch.Tensor:
    """A random ±1 vector, normalised to unit length."""
    # draw where the generator lives (a CUDA generator cannot fill a CPU tensor), then move
    gen_device = generator.device if generator is not None else "cpu"
    v = torch.randint(0, 2, (dim,), generator=generator, dtype=torch.int8, device=gen_device).to(dtype) * 2 - 1
    return (v / dim ** 0.5).to(device)


def lanczos(matvec: MatVec, dim: int, steps: int, generator: torch.Generator | None = None,
            dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu", v0: torch.Tensor | None = None,
            reorthogonalize: bool = True, tol: float = 0.0) -> LanczosResult:
    """Run ``steps`` Lanczos iterations from ``v0`` (default: a Rademacher vector from ``generator``).

    The basis is kept in ``dtype`` (``steps x dim`` memory) and every new vector is orthogonalised against all
    previous ones twice (classical Gram-Schmidt, repeated: "twice is enough"). Stops early on an invariant
    subspace (beta below 1e-10 of the operator scale), or when ``tol > 0`` and the top Ritz value moved by less
    than ``tol`` (relative) in the last step. ``reorthogonalize=False`` is plain three-term Lanczos, kept to show
    loss of orthogonality.
    """
    if steps < 1 or steps > dim:
        raise ValueError(f"steps must be in [1, dim={dim}], got {steps}")
    v = rademacher(dim, generator, dtype, device) if v0 is None else (v0 / v0.norm()).to(dtype=dtype, device=device)
    Q = torch.zeros(steps, dim, dtype=dtype, device=device)
    alpha, beta = [], []
    Q[0] = v
    for j in range(steps):
        w = matvec(Q[j]).to(dtype)
        a = torch.dot(w, Q[j])
        alpha.append(float(a))
        if reorthogonalize:
            for _ in range(2):
                w -= Q[:j + 1].T @ (Q[:j + 1] @ w)
        else:
            w -= a * Q[j] + (beta[-1] * Q[j - 1] if j > 0 else 0)
        if j == steps - 1:
            break
        b = float(w.norm())
        if b < 1e-10 * max(abs(x) for x in alpha) or (tol > 0 and _converged(alpha, beta, tol)):
            break
        beta.append(b)
        Q[j + 1] = w / b
    k = len(alpha)
    T = np.diag(np.array(alpha)) + np.diag(np.array(beta[:k - 1]), 1) + np.diag(np.array(beta[:k - 1]), -1)
    evals, evecs = np.linalg.eigh(T)
    Qk = Q[:k]
    ortho = float((Qk @ Qk.T - torch.eye(k, dtype=dtype, device=device)).abs().max())
    return LanczosResult(evals, evecs[0] ** 2, np.array(alpha), np.array(beta[:k - 1]), ortho, k)


def _top_ritz(alpha: list[float], beta: list[float]) -> float:
    k = len(alpha)
    return float(np.linalg.eigvalsh(np.diag(alpha) + np.diag(beta[:k - 1], 1) + np.diag(beta[:k - 1], -1))[-1])


def _converged(alpha: list[float], beta: list[float], tol: float) -> bool:
    """Top Ritz value of the last two tridiagonals agree to ``tol`` (cheap: k x k eigvalsh)."""
    if len(alpha) < 3:
        return False
    new, old = _top_ritz(alpha, beta), _top_ritz(alpha[:-1], beta[:-1])
    return abs(new - old) <= tol * abs(new)


def slq(matvec: MatVec, dim: int, steps: int, probes: int, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> list[LanczosResult]:
    """``probes`` independent Lanczos runs from Rademacher vectors: the input of :func:`density.slq_density`."""
    return [lanczos(matvec, dim, steps, generator=generator, dtype=dtype, device=device) for _ in range(probes)]
