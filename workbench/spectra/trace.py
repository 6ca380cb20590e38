"""Hutchinson's trace estimator on any matvec: E[z^T A z] = tr(A) for Rademacher z."""
from __future__ import annotations

import math

import torch

from .lanczos import MatVec


def hutchinson(matvec: MatVec, dim: int, probes: int, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> tuple[float, float]:
    """``(estimate, standard error)`` of tr(A) from ``probes`` Rademacher vectors (unnormalised ±1)."""
    if probes < 1:
        raise ValueError(f"probes must be >= 1, got {probes}")
    samples = []
    for _ in range(probes):
        gen_device = generator.device if generator is not None else "cpu"
        z = torch.randint(0, 2, (dim,), generator=generator, dtype=torch.int8, device=gen_device).to(device)
        z = z.to(dtype).mul_(2).sub_(1)
        samples.append(float(torch.dot(z, matvec(z).to(dtype))))
    t = torch.tensor(samples, dtype=torch.float64)
    se = float(t.std(unbiased=True)) / math.sqrt(probes) if probes > 1 else float("nan")
    return float(t.mean()), se
