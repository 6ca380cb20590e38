"""Largest stable learning rate by log-space bisection, with one documented divergence criterion.

Criterion (:func:`is_stable`): from a fixed initialisation, take ``steps`` optimiser steps at batch size B and
learning rate lr. The run *diverged* if any mini-batch loss is non-finite or exceeds ``blowup`` times the
initial loss, or if the loss on a fixed probe set after the last step is not below its initial value.
Otherwise it is *stable*. The largest stable lr is bracketed by bisection in log(lr): ``iters`` halvings of
the bracket's log-width (the bracket ``[lo, hi]`` must be stable at ``lo``; it is widened when it is not).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .train import make_optimizer


def is_stable(model: nn.Module, x, y, *, optimizer: str, lr: float, batch_size: int, steps: int,
              seed: int = 0, momentum: float = 0.9, blowup: float = 10.0, probe: int = 512) -> bool:
    """Train ``model`` (modified in place: pass a fresh copy) and apply the criterion of this module."""
    g = torch.Generator().manual_seed(seed)
    xp, yp = x[:probe], y[:probe]
    with torch.no_grad():
        start = float(F.cross_entropy(model(xp), yp))
    opt = make_optimizer(optimizer, model.parameters(), lr, momentum)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), generator=g).to(x.device)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        if not math.isfinite(loss.item()) or loss.item() > blowup * start:
            return False
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        end = float(F.cross_entropy(model(xp), yp))
    return math.isfinite(end) and end < start


def bisect_max_lr(stable: Callable[[float], bool], lo: float, hi: float, iters: int,
                  max_widen: int = 6) -> dict:
    """Largest ``lr`` with ``stable(lr)`` by bisection in log space.

    Returns ``lr_max`` (the largest lr found stable), ``lr_fail`` (the smallest found unstable), the number of
    ``trials``, and ``censored`` (True when even ``hi`` after widening was stable, or ``lo`` never was).
    Assumes stability is monotone in lr (not guaranteed: noted in the study).
    """
    if not 0 < lo < hi:
        raise ValueError(f"need 0 < lo < hi, got lo={lo}, hi={hi}")
    trials, hi_unstable = 0, False
    for _ in range(max_widen):
        trials += 1
        if stable(lo):
            break
        lo, hi, hi_unstable = lo / 10, lo, True
    else:
        return {"lr_max": float("nan"), "lr_fail": hi, "trials": trials, "censored": True}  # hi: last lo tried
    if not hi_unstable:  # after a widening down, hi is the last lo tried: known unstable, not tried again
        for _ in range(max_widen):
            trials += 1
            if not stable(hi):
                break
            lo, hi = hi, hi * 10
        else:
            return {"lr_max": lo, "lr_fail": float("nan"), "trials": trials, "censored": True}  # lo: last hi tried
    for _ in range(iters):
        mid = math.sqrt(lo * hi)
        trials += 1
        if stable(mid):
            lo = mid
        else:
            hi = mid
    return {"lr_max": lo, "lr_fail": hi, "trials": trials, "censored": False}
