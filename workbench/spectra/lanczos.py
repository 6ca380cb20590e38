"""Lanczos with full reorthogonalisation on any matvec, and stochastic Lanczos quadrature (SLQ) probes.

Knows nothing of networks: ``matvec`` maps a 1-D tensor of length ``dim`` to one of the same length.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch
from scipy.linalg import lapack

MatVec = Callable[[torch.Tensor], torch.Tensor]
ESTIMATES = ("residual", "kato_temple")  # error estimates of the top Ritz value (top_error_estimate)
DGKS_ETA = 2 ** -0.5  # Daniel-Gragg-Kaufman-Stewart: a second Gram-Schmidt pass when a pass left at most this share
_norm = torch.linalg.vector_norm  # Tensor.norm goes through two Python layers first (it shows at ~1 ms matvecs)


class NonFiniteError(ValueError):
    """The operator gave NaN or inf (e.g. the Hessian at weights that a diverged run left non-finite): there is
    no spectrum to estimate. Raised before any such value reaches LAPACK."""


@dataclasses.dataclass
class LanczosResult:
    """Ritz values ``(k,)`` ascending, their quadrature weights ``(k,)`` (squared first components of the
    tridiagonal's eigenvectors; sum to 1), the tridiagonal ``alpha (k,)``, ``beta (k-1,)`` (float64), and
    ``orthogonality_loss = max |Q^T Q - I|`` of the Krylov basis (large means spurious copies of Ritz values).

    ``error_estimate``: estimated relative error of the top Ritz value (:func:`top_error_estimate`, of the kind
    the run used) after the last step; ``converged``: it fell below the ``tol`` asked for (False when no ``tol``
    was given).
    ``residuals (k,)``: each Ritz pair's residual norm ``||A y - theta y||`` (``beta_next`` times the last
    component of its eigenvector): some eigenvalue of A lies within it of that Ritz value."""
    ritz: np.ndarray
    weights: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    orthogonality_loss: float
    steps: int
    error_estimate: float = float("nan")
    converged: bool = False
    residuals: np.ndarray | None = None


def rademacher(dim: int, generator: torch.Generator | None = None, dtype=torch.float64, device=None) -> torch.Tensor:
    """A random ±1 vector, normalised to unit length."""
    # draw where the generator lives (a CUDA generator cannot fill a CPU tensor), then move
    gen_device = generator.device if generator is not None else "cpu"
    # move the int8 draw (1 byte per entry), then convert and scale where the vector will live
    v = torch.randint(0, 2, (dim,), generator=generator, dtype=torch.int8, device=gen_device).to(device)
    return v.to(dtype).mul_(2).sub_(1).div_(dim ** 0.5)


def eigh_tridiagonal(alpha, beta) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``(k,)`` ascending and eigenvectors ``(k, k)`` (columns) of the symmetric tridiagonal with
    diagonal ``alpha (k,)`` and off-diagonal ``beta[:k-1]`` (LAPACK ``dstev``: a few microseconds at k ~ 20,
    cheap enough to call after every Lanczos step)."""
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)[:len(a) - 1]
    if not (np.isfinite(a).all() and np.isfinite(b).all()):  # dstev would fail with an opaque "info=k"
        raise NonFiniteError(f"non-finite tridiagonal entries: alpha {a.tolist()}, beta {b.tolist()}")
    if len(a) == 1:
        return a.copy(), np.ones((1, 1))
    evals, evecs, info = lapack.dstev(a, b, compute_v=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"dstev did not converge (info={info})")
    return evals, evecs


def top_error_estimate(evals: np.ndarray, evecs: np.ndarray, beta_next: float, kind: str = "residual") -> float:
    """Estimated relative error of the top Ritz value ``theta = evals[-1]`` of a Lanczos tridiagonal.

    ``r = beta_next * |last component of its eigenvector|`` is the exact residual norm ``||A y - theta y||`` of
    the Ritz pair (in exact arithmetic), so some eigenvalue of A lies within ``r`` of theta.

    - ``"residual"``: ``r / |theta|``. It bounds the error unless an eigenvalue above theta has not yet shown in
      the Krylov space: a start vector nearly orthogonal to its eigenvector, or, for a close top pair not yet
      resolved, one that touches the top eigenvector much less than the second (the error over ``r`` is then the
      ratio of those two components). Nothing computable detects that.
    - ``"kato_temple"``: ``min(r, r^2 / gap) / |theta|``, the Kato-Temple sharpening, fewer steps for the same
      ``tol``. It needs the gap between lambda_max and the next eigenvalue and takes it from the Ritz values
      (``theta_1 - theta_2``), which overstates it while a close second eigenvalue is unresolved: with a top
      pair 0.15-0.5% apart (Fashion-MNIST MLP, trained, batch Hessian at B = 256 and 1024) it stopped at
      ``tol`` 1e-4 in 14 of 72 runs with errors of 2e-4 to 1e-2, where ``"residual"`` missed once (1.5e-3,
      the unresolved case above) at ~4 more matvecs.
    """
    if kind not in ESTIMATES:
        raise ValueError(f"error estimate must be one of {ESTIMATES}, got {kind!r}")
    theta = float(evals[-1])
    r = abs(beta_next * float(evecs[-1, -1]))
    gap = float(evals[-1] - evals[-2]) if len(evals) > 1 else 0.0
    err = min(r, r * r / gap) if kind == "kato_temple" and gap > 0 else r
    return err / abs(theta) if theta != 0 else math.inf


def lanczos(matvec: MatVec, dim: int, steps: int, generator: torch.Generator | None = None,
            dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu", v0: torch.Tensor | None = None,
            reorthogonalize: bool = True, tol: float = 0.0, estimate: str = "residual") -> LanczosResult:
    """At most ``steps`` Lanczos iterations from ``v0`` (default: a Rademacher vector from ``generator``).

    The basis is kept in ``dtype`` (``steps x dim`` memory). Each new vector gets the three-term recurrence and
    then one classical Gram-Schmidt pass against the whole basis, plus a second pass only when the first removed
    most of its norm (the DGKS criterion; after the recurrence one pass is usually enough). Stops early on an
    invariant subspace (beta below 1e-10 of the operator scale), or, when ``tol > 0``, as soon as the top Ritz
    value's estimated relative error (:func:`top_error_estimate` of kind ``estimate``) is at most ``tol``: easy
    spectra take few matvecs. ``reorthogonalize=False`` is plain three-term Lanczos, kept to show loss of orthogonality.

    Raises :class:`NonFiniteError` (a ``ValueError``) naming the step as soon as a matvec gives NaN or inf (the
    check reads the two scalars each step already brings to the host: no extra synchronisation).
    """
    if steps < 1 or steps > dim:
        raise ValueError(f"steps must be in [1, dim={dim}], got {steps}")
    if estimate not in ESTIMATES:
        raise ValueError(f"estimate must be one of {ESTIMATES}, got {estimate!r}")
    v = rademacher(dim, generator, dtype, device) if v0 is None else (v0 / v0.norm()).to(dtype=dtype, device=device)
    Q = torch.empty(steps, dim, dtype=dtype, device=device)
    Q[0] = v
    alpha: list[float] = []
    beta: list[float] = []
    scale, error, converged, b = 0.0, float("nan"), False, 0.0
    for j in range(steps):
        q = Q[j]
        w = matvec(q).to(dtype)
        a = float(torch.dot(w, q))
        if not math.isfinite(a):
            raise NonFiniteError(f"Lanczos step {j + 1} of {steps}: the matvec returned non-finite values "
                                 f"(q^T A q = {a}); e.g. a Hessian at weights a diverged run left NaN/inf")
        alpha.append(a)
        scale = max(scale, abs(a))
        w.add_(q, alpha=-a)
        if j > 0:
            w.add_(Q[j - 1], alpha=-beta[-1])
        b = float(_norm(w))
        if not math.isfinite(b):  # e.g. A q overflowing float64 after the recurrence
            raise NonFiniteError(f"Lanczos step {j + 1} of {steps}: the matvec returned non-finite values "
                                 f"(residual norm {b})")
        if reorthogonalize:
            b = _reorthogonalize(w, Q[:j + 1], b)
        if b <= 1e-10 * scale:  # invariant subspace: the Ritz values are exact eigenvalues (<=: A q = 0 too)
            error, converged, b = 0.0, tol > 0, 0.0
            break
        if tol > 0 or j == steps - 1:
            evals, evecs = eigh_tridiagonal(alpha, beta)
            error = top_error_estimate(evals, evecs, b, estimate)
            converged = tol > 0 and error <= tol
        if converged or j == steps - 1:
            break
        beta.append(b)
        torch.div(w, b, out=Q[j + 1])
    k = len(alpha)
    evals, evecs = eigh_tridiagonal(alpha, beta)
    Qk = Q[:k]
    ortho = float((Qk @ Qk.T - torch.eye(k, dtype=dtype, device=device)).abs().max())
    return LanczosResult(evals, evecs[0] ** 2, np.array(alpha), np.array(beta[:k - 1]), ortho, k, error, converged,
                         np.abs(b * evecs[-1]))


def _reorthogonalize(w: torch.Tensor, basis: torch.Tensor, norm: float) -> float:
    """Remove from ``w`` (in place) its components along the rows of ``basis``; return its new norm."""
    for _ in range(2):
        w.addmv_(basis.T, basis @ w, alpha=-1.0)
        new = float(_norm(w))
        if new > DGKS_ETA * norm:
            return new
        norm = new
    return norm


def slq(matvec: MatVec, dim: int, steps: int, probes: int, generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> list[LanczosResult]:
    """``probes`` independent Lanczos runs from Rademacher vectors: the input of :func:`density.slq_density`."""
    return [lanczos(matvec, dim, steps, generator=generator, dtype=dtype, device=device) for _ in range(probes)]
