"""Non-finite curvature (a diverged run's Hessian) fails clearly in Lanczos and does not crash the SLQ learner.

Regression for the first GPU run of lr_scaling: the learner's own lr made VGG-11 diverge, the next
Hessian-vector products were NaN, and LAPACK's dstev died with "did not converge (info=19)".
Does not prove: anything about where divergence sets in (the study measures that).
"""
import math

import numpy as np
import pytest
import torch

from workbench.spectra.lanczos import NonFiniteError, eigh_tridiagonal, lanczos
from workbench.spectra.models import build_model
from workbench.spectra.slq_learner import SLQLearner
from workbench.spectra.train import train_epochs


def _matvec_bad_from(step: int, value: float):
    """A diagonal operator whose ``step``-th product (1-based) has one entry ``value``."""
    d = torch.linspace(1.0, 2.0, 30, dtype=torch.float64)
    calls = [0]

    def mv(v):
        calls[0] += 1
        out = d * v
        if calls[0] >= step:
            out[3] = value
        return out
    return mv, calls


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("tol", [0.0, 1e-4])
def test_lanczos_names_the_step_of_a_non_finite_matvec(value, tol):
    """A NaN / +-inf entry in the 3rd matvec raises NonFiniteError naming step 3, with no matvec after it, for
    fixed-step and adaptive Lanczos. Does not prove: that a non-finite value arising in the recurrence itself
    (overflow with finite matvecs) is caught."""
    mv, calls = _matvec_bad_from(3, value)
    with pytest.raises(NonFiniteError, match="step 3 of 10"):
        lanczos(mv, 30, 10, generator=torch.Generator().manual_seed(0), tol=tol)
    assert calls[0] == 3  # stopped at the first bad product, no matvec wasted after it
    assert issubclass(NonFiniteError, ValueError)


def test_eigh_tridiagonal_refuses_non_finite_input():
    """NaN / inf on the diagonal or among the k-1 off-diagonal entries raises NonFiniteError; entries past k-1 are
    ignored. Does not prove: the eigenvalues' accuracy (test_spectra_lanczos.py compares with eigh)."""
    with pytest.raises(NonFiniteError, match="non-finite"):
        eigh_tridiagonal([1.0, math.nan, 2.0], [0.1, 0.2])
    with pytest.raises(NonFiniteError):
        eigh_tridiagonal([1.0, 2.0], [math.inf])
    with pytest.raises(NonFiniteError):
        eigh_tridiagonal([math.nan], [])
    evals, _ = eigh_tridiagonal([1.0, 2.0], [0.0, math.nan])  # entries past k-1 are not part of the matrix
    np.testing.assert_allclose(evals, [1.0, 2.0])


def _tiny():
    torch.manual_seed(0)
    return build_model("mlp", (1, 4, 4), 3), torch.randn(128, 1, 4, 4), torch.randint(0, 3, (128,))


def test_learner_survives_weights_gone_nan():
    """Weights set to NaN mid-run (what a diverged step leaves): training goes on as train.py does for any
    optimiser (NaN losses in its rows), and each later estimate is recorded as non-finite with the settings
    kept, at the cost of one matvec. Does not prove: any recovery (nothing resets the NaN weights)."""
    m, x, y = _tiny()
    learner = SLQLearner(period=2, lanczos_steps=8)

    def on_step(step, model, xb, yb, opt):
        if step == 3:
            with torch.no_grad():
                next(model.parameters()).fill_(math.nan)
        learner(step, model, xb, yb, opt)
    rows = train_epochs(m, x, y, x, y, epochs=2, batch_size=32, lr=0.01, on_step=on_step)
    status = [h["status"] for h in learner.history]
    assert status == ["ok", "ok", "non-finite", "non-finite"]  # steps 0, 2 | 4, 6
    ok = learner.history[1]
    for h in learner.history[2:]:
        assert math.isnan(h["lambda_max"]) and (h["lr"], h["momentum"]) == (ok["lr"], ok["momentum"])
    assert math.isnan(rows[-1]["train_loss"]) and rows[-1]["lr"] == ok["lr"]


def test_learner_whose_own_lr_diverges():
    """The GPU failure in miniature: a learner scaled far past the edge of stability blows the logits up until the
    softmax saturates and the Hessian is exactly zero (weights still finite); its later estimates are recorded
    as "no positive curvature" with lambda_max 0 and the settings kept, not raised. Until 2026-11-24 Lanczos divided
    by the zero residual there and reported the NaN as "non-finite" (before that: LinAlgError from dstev).
    Does not prove: at which scale divergence sets in, nor that the default scale is stable."""
    m, x, y = _tiny()
    learner = SLQLearner(period=2, lanczos_steps=8, scale=1e8)
    train_epochs(m, x, y, x, y, epochs=3, batch_size=32, lr=0.01, on_step=learner)
    assert all(torch.isfinite(p).all() for p in m.parameters())
    status = [h["status"] for h in learner.history]
    assert status[0] == "ok" and "no positive curvature" in status and len(status) == 6
    first_bad = status.index("no positive curvature")
    assert all(h["lambda_max"] == 0.0 for h in learner.history[first_bad:] if h["status"] != "ok")
    assert all(h["lr"] == learner.history[first_bad - 1]["lr"] for h in learner.history[first_bad:])
