"""SLQ spectral density: pure array math on Ritz values and weights (no torch, no model).

Each Lanczos probe gives nodes (Ritz values) and weights (squared first eigenvector components) of a Gauss
quadrature for v^T f(A) v; averaging probes and replacing each node by a Gaussian of width ``sigma`` gives a
smooth estimate of the eigenvalue density, normalised to integrate to 1 over the real line.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def grid_for(ritz: Sequence[np.ndarray], n: int = 400, pad: float = 0.05) -> np.ndarray:
    """An evenly spaced grid ``(n,)`` covering all Ritz values with ``pad`` of the range on each side."""
    lo = min(float(np.min(r)) for r in ritz)
    hi = max(float(np.max(r)) for r in ritz)
    width = max(hi - lo, 1e-12)
    return np.linspace(lo - pad * width, hi + pad * width, n)


def slq_density(ritz: Sequence[np.ndarray], weights: Sequence[np.ndarray], grid: np.ndarray,
                sigma: float) -> np.ndarray:
    """Density ``(len(grid),)`` on ``grid``: mean over probes of sum_i w_i N(grid; ritz_i, sigma^2)."""
    if len(ritz) != len(weights) or not ritz:
        raise ValueError("need the same positive number of Ritz-value and weight arrays")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    dens = np.zeros_like(grid, dtype=np.float64)
    for r, w in zip(ritz, weights):
        z = (grid[:, None] - np.asarray(r)[None, :]) / sigma
        dens += (np.exp(-0.5 * z ** 2) * np.asarray(w)[None, :]).sum(axis=1)
    return dens / (len(ritz) * sigma * np.sqrt(2 * np.pi))


def exact_density(eigenvalues: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
    """The same Gaussian broadening applied to a full eigenvalue list: what SLQ estimates."""
    w = np.full(len(eigenvalues), 1.0 / len(eigenvalues))
    return slq_density([eigenvalues], [w], grid, sigma)


def outlier_mass(ritz: Sequence[np.ndarray], weights: Sequence[np.ndarray], threshold: float) -> float:
    """Spectral mass (fraction of eigenvalues, SLQ estimate) above ``threshold``: outliers vs the bulk."""
    return float(np.mean([np.sum(np.asarray(w)[np.asarray(r) > threshold]) for r, w in zip(ritz, weights)]))
