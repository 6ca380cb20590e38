"""The SLQ learner: SGD whose learning rate and momentum are set on the fly from Lanczos estimates.

Every ``period`` steps, ``lanczos_steps`` Lanczos iterations on the current mini-batch Hessian give Ritz values.
lambda_max is the largest; lambda_min is the smallest Ritz value above ``lambda_max / kappa_max`` (the bulk's
edge seen by the quadrature; negative and near-zero directions are ignored). With kappa = lambda_max /
lambda_min, Polyak's heavy-ball tuning for a quadratic sets

    lr = scale * 4 / (sqrt(lambda_max) + sqrt(lambda_min))^2,   momentum = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2,

with momentum capped at ``momentum_max``. This is our reading of the seed paper's learner (it fixes lr and
momentum from the spectrum), not its code.
"""
from __future__ import annotations

import dataclasses
import math
import time

import torch
import torch.nn.functional as F

from .hvp import curvature_operator
from .lanczos import lanczos


def heavy_ball(lam_max: float, lam_min: float, scale: float = 1.0, momentum_max: float = 0.9) -> tuple[float, float]:
    """``(lr, momentum)`` from the curvature range (both eigenvalues > 0, in loss units per parameter^2)."""
    if not (lam_max > 0 and lam_min > 0):
        raise ValueError(f"need positive eigenvalues, got lambda_max={lam_max}, lambda_min={lam_min}")
    lam_min = min(lam_min, lam_max)
    rk = math.sqrt(lam_max / lam_min)
    lr = scale * 4.0 / (math.sqrt(lam_max) + math.sqrt(lam_min)) ** 2
    return lr, min(((rk - 1) / (rk + 1)) ** 2, momentum_max)


@dataclasses.dataclass
class SLQLearner:
    """Callable for :func:`train.train_epochs` ``on_step``; keeps a history of its estimates."""
    period: int = 20
    lanczos_steps: int = 10
    kappa_max: float = 100.0
    scale: float = 1.0
    momentum_max: float = 0.9
    bn: str = "eval"
    seed: int = 0
    history: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        self._g = torch.Generator().manual_seed(self.seed)

    def __call__(self, step: int, model, xb, yb, opt) -> None:
        if step % self.period:
            return
        t0 = time.perf_counter()
        op = curvature_operator(model, F.cross_entropy, [(xb, yb)], bn=self.bn)
        res = lanczos(op, op.dim, min(self.lanczos_steps, op.dim), generator=self._g,
                      device=next(model.parameters()).device)
        lam_max = float(res.ritz[-1])
        if lam_max <= 0:  # no positive curvature seen: keep the current settings
            return
        bulk = [r for r in res.ritz if r > lam_max / self.kappa_max]
        lr, mom = heavy_ball(lam_max, min(bulk), self.scale, self.momentum_max)
        for group in opt.param_groups:
            group["lr"], group["momentum"] = lr, mom
        self.history.append({"step": step, "lambda_max": lam_max, "lambda_min": min(bulk), "lr": lr,
                             "momentum": mom, "estimate_s": time.perf_counter() - t0})
