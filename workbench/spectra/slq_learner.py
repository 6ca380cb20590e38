"""The SLQ learner: SGD whose learning rate and momentum are set on the fly from Lanczos estimates.

Every ``period`` steps, one Lanczos run of ``lanczos_steps`` iterations from one random Rademacher probe, on the
current mini-batch Hessian, gives Ritz values; only the Ritz values are used (not the quadrature weights, and
no average over probes: "SLQ" names the seed paper's learner, not a density estimate here). lambda_max is the
largest Ritz value; lambda_min, the low end of the range trusted, is the smallest Ritz value above
``lambda_max / kappa_max`` (negative and near-zero directions are ignored). With kappa = lambda_max / lambda_min,
Polyak's heavy-ball tuning for a quadratic sets

    momentum = min(((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2, momentum_max),
    lr = scale * (1 + sqrt(momentum))^2 / lambda_max,

which below the cap is Polyak's ``lr = 4 / (sqrt(lambda_max) + sqrt(lambda_min))^2``; at the cap it keeps
``lr * lambda_max = (1 + sqrt(momentum))^2``, inside heavy ball's stability bound ``2 (1 + momentum)``, where
Polyak's lr with the capped momentum would pass it (kappa above ~1440 at the 0.9 cap: spectral radius 1.01 at
kappa 1500, 1.22 at 3000). As lambda_min >= lambda_max / kappa_max, kappa never exceeds ``kappa_max``: at the
default 100 the momentum is at most 0.67 and the cap binds only for ``kappa_max`` above ~1440. This is our
reading of the seed paper's learner (it fixes lr and momentum from the spectrum), not its code.

Divergence is handled as :func:`train.train_epochs` handles it for every optimiser: training goes on and the
epoch rows show the non-finite losses. An estimate whose Hessian-vector products are NaN/inf (weights a
diverged step left non-finite) is recorded with ``status`` "non-finite" and the current lr and momentum are
kept; it costs one matvec, as Lanczos stops at the first non-finite one.

Note on the rule itself: ``lr * lambda_max = (1 + sqrt(momentum))^2`` is about 3.3 at kappa = 100, while
heavy ball on a quadratic is stable only below ``2 (1 + momentum)`` = 3.34 at the momentum it picks: the
learner runs at the edge of stability by design, and any growth of lambda_max between two estimates (or
mini-batch noise) can tip it over; ``scale < 1`` backs off.
"""
from __future__ import annotations

import dataclasses
import math
import time

import torch
import torch.nn.functional as F

from .hvp import curvature_operator
from .lanczos import NonFiniteError, lanczos


def heavy_ball(lam_max: float, lam_min: float, scale: float = 1.0, momentum_max: float = 0.9) -> tuple[float, float]:
    """``(lr, momentum)`` from the curvature range (both eigenvalues > 0, in loss units per parameter^2): the
    module's rule, Polyak's tuning with the momentum capped at ``momentum_max`` and the lr kept stable there."""
    if not (lam_max > 0 and lam_min > 0):
        raise ValueError(f"need positive eigenvalues, got lambda_max={lam_max}, lambda_min={lam_min}")
    lam_min = min(lam_min, lam_max)
    rk = math.sqrt(lam_max / lam_min)
    momentum = min(((rk - 1) / (rk + 1)) ** 2, momentum_max)
    return scale * (1 + math.sqrt(momentum)) ** 2 / lam_max, momentum


@dataclasses.dataclass
class SLQLearner:
    """Callable for :func:`train.train_epochs` ``on_step``; keeps a history of its estimates: step,
    lambda_max, lambda_min, the lr and momentum in force after the estimate, estimate_s, the operator's
    ``bn_mode`` and ``bn_stats`` (:func:`hvp.bn_stats`) and ``status`` ("ok", "non-finite": the curvature was
    NaN/inf, "no positive curvature": lambda_max <= 0, e.g. a saturated net whose Hessian is exactly 0; in both the
    settings were kept)."""
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
        group0 = opt.param_groups[0]
        info = op.info()
        row = {"step": step, "lambda_max": math.nan, "lambda_min": math.nan, "lr": group0["lr"],
               "momentum": group0.get("momentum", math.nan), "bn_mode": info["bn_mode"], "bn_stats": info["bn_stats"]}
        try:
            res = lanczos(op, op.dim, min(self.lanczos_steps, op.dim), generator=self._g,
                          device=next(model.parameters()).device)
        except NonFiniteError:  # training diverged: nothing to estimate; keep the settings, as train.py goes on
            self.history.append({**row, "estimate_s": time.perf_counter() - t0, "status": "non-finite"})
            return
        lam_max = float(res.ritz[-1])
        if lam_max <= 0:  # no positive curvature seen: keep the current settings
            self.history.append({**row, "lambda_max": lam_max, "estimate_s": time.perf_counter() - t0,
                                 "status": "no positive curvature"})
            return
        bulk = [r for r in res.ritz if r > lam_max / self.kappa_max]
        lr, mom = heavy_ball(lam_max, min(bulk), self.scale, self.momentum_max)
        for group in opt.param_groups:
            group["lr"], group["momentum"] = lr, mom
        self.history.append({**row, "lambda_max": lam_max, "lambda_min": min(bulk), "lr": lr, "momentum": mom,
                             "estimate_s": time.perf_counter() - t0, "status": "ok"})
