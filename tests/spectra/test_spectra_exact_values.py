"""Exact values of the spectra tools' smaller parts, each on a problem solved by hand: the Lanczos error estimates,
the start vector's scale, power iteration's sign, the density grid, BatchNorm's refreshed statistics, the fit's
standard errors and columns, the SLQ learner's settings, and (from a second such review) the reorthogonalisation's
second pass, Lanczos' breakdown scale, the outlier threshold, Hutchinson's probes, bn_mode's restore and the
blow-up boundary. A review that changed one line at a time in these functions found each change passed the rest
of the suite.

Does not prove: anything about large operators (the claims and peer tests read those)."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workbench.spectra import lr_search
from workbench.spectra.density import grid_for, outlier_mass
from workbench.spectra.fits import batch_means, fit_inverse_batch, lambda_fits
from workbench.spectra.hvp import bn_mode, curvature_operator, refresh_bn_stats
from workbench.spectra.lanczos import _reorthogonalize, lanczos, top_error_estimate
from workbench.spectra.power import power_iteration
from workbench.spectra.slq_learner import SLQLearner, heavy_ball
from workbench.spectra.trace import hutchinson


def test_error_estimates_by_hand():
    """Ritz values (1, 3), identity eigenvectors, beta_next 0.5: the top pair's residual is 0.5, so "residual" is
    0.5 / 3 (relative) and Kato-Temple min(0.5, 0.5^2 / gap 2) / 3 = 0.125 / 3."""
    evals, evecs = np.array([1.0, 3.0]), np.eye(2)
    assert top_error_estimate(evals, evecs, 0.5, "residual") == pytest.approx(0.5 / 3)
    assert top_error_estimate(evals, evecs, 0.5, "kato_temple") == pytest.approx(0.125 / 3)


def test_start_vector_scale_does_not_change_the_ritz_values():
    """A start vector of any length is normalised: v0 and 3 v0 give the same tridiagonal, and alpha_0 is the
    Rayleigh quotient of v0."""
    A = torch.diag(torch.tensor([5.0, 2.0, 1.0, -1.0], dtype=torch.float64))
    e = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    one, three = (lanczos(lambda v: A @ v, 4, 3, v0=s * e) for s in (1.0, 3.0))
    np.testing.assert_allclose(three.ritz, one.ritz, rtol=1e-12)
    assert three.alpha[0] == pytest.approx(float(e @ A @ e / (e @ e)))


def test_power_iteration_keeps_a_negative_top_eigenvalue_negative():
    """The largest eigenvalue by magnitude of diag(-3, 1, 0.5) is -3 (a saddle's direction), not 3."""
    A = torch.diag(torch.tensor([-3.0, 1.0, 0.5], dtype=torch.float64))
    values, _, _ = power_iteration(lambda v: A @ v, 3, k=1, generator=torch.Generator().manual_seed(0))
    assert values[0] == pytest.approx(-3.0, rel=1e-6)


def test_density_grid_spans_every_probe():
    """The grid covers the lowest Ritz value of any probe, not only the first probe's."""
    np.testing.assert_allclose(grid_for([np.array([0.0, 1.0]), np.array([-5.0, 1.0])], n=3, pad=0.0),
                               [-5.0, -2.0, 1.0])


def test_refreshed_bn_statistics_are_the_size_weighted_averages():
    """Batches of 9, 3 and 5 examples: the running mean is the mean of all 17, the running variance the
    size-weighted mean of the three batches' unbiased variances (a momentum that counted batches, not examples,
    would weight the 3-example batch as much as the others)."""
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(2).double()
    parts = [torch.randn(n, 2, dtype=torch.float64) + i for i, n in enumerate((9, 3, 5))]
    refresh_bn_stats(nn.Sequential(bn), [(x, None) for x in parts])
    x = torch.cat(parts)
    torch.testing.assert_close(bn.running_mean, x.mean(0))
    var = sum(len(p) * p.var(0, unbiased=True) for p in parts) / len(x)
    torch.testing.assert_close(bn.running_var, var)


def test_weighted_fit_of_exact_data_keeps_the_stated_errors():
    """v = 2 + 10 (1/B - 1/N) exactly, each mean with standard error 1: chi2 is 0, and the errors of a and c are
    those the stated errors give (the covariance (A^T W A)^-1, widened only when chi2/dof exceeds 1), not 0."""
    b, n = np.array([16.0, 32.0, 64.0, 128.0]), 1000.0
    x = 1 / b - 1 / n
    f = fit_inverse_batch(b, 2 + 10 * x, n, se=np.ones(4))
    assert f["a"] == pytest.approx(2.0) and f["c"] == pytest.approx(10.0) and f["chi2"] == pytest.approx(0.0, abs=1e-18)
    A = np.stack([np.ones(4), x], 1)
    cov = np.linalg.inv(A.T @ A)
    assert f["a_se"] == pytest.approx(math.sqrt(cov[0, 0])) and f["c_se"] == pytest.approx(math.sqrt(cov[1, 1]))


def test_batch_means_and_the_gap_to_the_full_value():
    """Two batches with lambda_max 1 and 3 at one B: mean 2, sd sqrt 2, standard error sd / sqrt 2 = 1. A fit whose
    a is 3 against a full value of 2 is 50% above it."""
    m = batch_means(pd.DataFrame({"scope": "batch", "batch_size": 8, "lambda_max": [1.0, 3.0]})).iloc[0]
    assert (m["mean"], m.n) == (2.0, 2) and m.se == pytest.approx(1.0)
    n = 1437
    rows = [{"curvature": "hessian", "scope": "batch", "batch_size": b, "lambda_max": 3 + 60 * (1 / b - 1 / n) + d}
            for b in (16, 32, 64, 128) for d in (-0.1, 0.1)]
    rows.append({"curvature": "hessian", "scope": "full", "batch_size": n, "lambda_max": 2.0})
    f = lambda_fits(pd.DataFrame(rows))[0].iloc[0]
    assert f.a == pytest.approx(3.0) and f.a_vs_full_rel == pytest.approx(0.5)


def test_heavy_ball_clamps_a_bulk_edge_above_lambda_max():
    """lambda_min above lambda_max is read as lambda_max: kappa 1, no momentum, lr 1 / lambda_max."""
    assert heavy_ball(1.0, 4.0) == pytest.approx((1.0, 0.0))


def _learner_problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    x, y = torch.randn(12, 3, dtype=torch.float64), torch.randint(0, 3, (12,))
    return model, x, y, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)


def test_slq_learner_reads_the_spectrum_with_its_own_settings():
    """With lanczos_steps = the parameter count (31), the Ritz values are the Hessian's eigenvalues: lambda_max is
    the top one and lambda_min the smallest above lambda_max / kappa_max. momentum_max caps the momentum; the seed
    fixes the probe whatever the global generator did in between."""
    model, x, y, opt = _learner_problem()
    op = curvature_operator(model, F.cross_entropy, [(x, y)])
    ev = np.linalg.eigvalsh(torch.stack([op(e) for e in torch.eye(op.dim, dtype=torch.float64)], 1).numpy())
    learner = SLQLearner(period=1, lanczos_steps=op.dim, kappa_max=1e3, momentum_max=0.1)
    learner(0, model, x, y, opt)
    h = learner.history[0]
    assert h["lambda_max"] == pytest.approx(ev[-1], rel=1e-6)
    assert h["lambda_min"] == pytest.approx(ev[ev > ev[-1] / 1e3].min(), rel=1e-4)
    assert heavy_ball(h["lambda_max"], h["lambda_min"])[1] > 0.1 and h["momentum"] == pytest.approx(0.1)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.1)
    histories = []
    for _ in range(2):
        learner = SLQLearner(period=1, lanczos_steps=5, seed=3)
        torch.rand(7)   # the global generator moves; the learner's must not follow it
        learner(0, model, x, y, opt)
        histories.append((learner.history[0]["lambda_max"], learner.history[0]["lambda_min"]))
    assert histories[0] == histories[1]


class _Logit(nn.Module):
    """Logits (w x, 0) for inputs x of shape (n, 1): with label 0, the loss is log(1 + exp(-w x))."""
    def __init__(self, w: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x):
        return torch.stack([self.w * x[:, 0], torch.zeros_like(x[:, 0])], 1)


class _Scripted:
    """An optimiser that sets the model's w to the next value of a script at each step (lr and momentum unused)."""
    def __init__(self, param, script):
        self.param, self.script = param, iter(script)

    def zero_grad(self, set_to_none=True):
        pass

    def step(self):
        with torch.no_grad():
            self.param.fill_(next(self.script))


def test_stability_criterion_is_relative_and_reads_the_whole_probe_set(monkeypatch):
    """The criterion of lr_search, on runs scripted by hand. A batch loss of 0.85 after a start of 0.13 is above
    twice the start (blowup 2; not above 2 itself): unstable, though the run ends below its start. A run whose
    end improves example 0 and worsens the 99 others is unstable: the probe set is all of them, not one."""
    x, y = torch.ones(100, 1, dtype=torch.float64), torch.zeros(100, dtype=torch.long)
    m = _Logit(2.0)   # start loss log(1 + e^-2) = 0.127
    monkeypatch.setattr(lr_search, "make_optimizer", lambda name, params, lr, momentum: _Scripted(m.w, [-0.3, 5.0]))
    assert not lr_search.is_stable(m, x, y, optimizer="sgd", lr=1.0, batch_size=4, steps=2, blowup=2.0)
    m = _Logit(2.0)   # the same script with blowup 10 is stable: it ends at loss 0.0067 below the start
    monkeypatch.setattr(lr_search, "make_optimizer", lambda name, params, lr, momentum: _Scripted(m.w, [-0.3, 5.0]))
    assert lr_search.is_stable(m, x, y, optimizer="sgd", lr=1.0, batch_size=4, steps=2, blowup=10.0)
    x = torch.cat([torch.ones(1, 1), -torch.ones(99, 1)]).double()   # example 0 gains from w > 0, the rest lose
    m = _Logit(0.0)
    monkeypatch.setattr(lr_search, "make_optimizer", lambda name, params, lr, momentum: _Scripted(m.w, [1.0]))
    assert not lr_search.is_stable(m, x, y, optimizer="sgd", lr=1.0, batch_size=4, steps=1)


def test_excess_exponent_interval_widens_by_the_scatter_only_when_it_exceeds_the_errors():
    """Points scattered twice as widely as their stated errors (chi2/dof ~ 4): the interval is scipy's relative-
    sigma one (covariance times chi2/dof, Student's t); scattered less (chi2/dof < 1): the stated errors' own
    (absolute sigma, normal quantile), never narrowed below them."""
    from scipy import optimize, stats

    from workbench.spectra.fits import fit_excess_exponent
    b = np.array([16.0, 32, 64, 128, 256, 512])
    x, se = 1 / b, np.full(6, 0.05)
    for wiggle, relative in ((np.array([2, -2, 2, -2, 2, -2]) * 0.05, True), (np.array([1, -1, 1, -1, 1, -1]) * 0.01,
                                                                              False)):
        y = 20 * x ** 0.8 + wiggle
        got = fit_excess_exponent(b, y, se)
        p, cov = optimize.curve_fit(lambda xx, c, al: c * xx ** al, x, y, p0=[20, 0.8], sigma=se,
                                    absolute_sigma=not relative)
        q = stats.t.ppf(0.975, 4) if relative else stats.norm.ppf(0.975)
        assert got["alpha"] == pytest.approx(p[1], rel=1e-6)
        assert got["alpha_hi"] - got["alpha"] == pytest.approx(q * math.sqrt(cov[1, 1]), rel=1e-4)


def test_break_may_sit_at_the_third_point():
    """log y rises with slope 1 up to x = 3 and is flat after (x = 1..6): the hinge at 3 fits exactly. Each
    segment counts the break itself, so 3 is a candidate (3 points on each side)."""
    from workbench.spectra.fits import fit_break
    x = np.arange(1.0, 7.0)
    assert fit_break(x, np.minimum(x, 3.0)) == 3.0


def test_epoch_rows_mean_the_batch_losses_and_accumulate_wall_time(monkeypatch):
    """lr 0 leaves the model as it is, and 4 batches of 8 cover the 32 examples once: the epoch's training loss
    (the mean of its batch losses) is the loss on all 32. With a clock that moves 1 s per reading, each epoch's
    timed span is 1 s: wall_s reads 1, 2, 3 (the time so far), not 1 every epoch."""
    from workbench.spectra import train as tr
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x, y = torch.randn(32, 1, 2, 2), torch.randint(0, 3, (32,))
    ticks = iter(range(10**6))
    monkeypatch.setattr(tr.time, "perf_counter", lambda: float(next(ticks)))
    rows = tr.train_epochs(model, x, y, x, y, epochs=3, batch_size=8, lr=0.0)
    assert [r["wall_s"] for r in rows] == [1.0, 2.0, 3.0]
    with torch.no_grad():
        full = float(F.cross_entropy(model(x), y))
    assert rows[0]["train_loss"] == pytest.approx(full, rel=1e-5)


def test_evaluate_leaves_the_model_in_the_mode_it_found():
    """evaluate runs in eval mode and then restores the caller's mode: a model in eval mode (a Hessian taken with
    BatchNorm in eval) stays there, one in training mode returns to it."""
    from workbench.spectra.train import evaluate
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    for mode in (False, True):
        model.train(mode)
        evaluate(model, x, y)
        assert model.training is mode and model[1].training is mode


def test_reorthogonalisation_takes_a_second_pass_when_the_first_cancels_most_of_the_vector():
    """DGKS: w = q + 1e-13 p (q, p orthonormal) loses nearly all its norm to the first Gram-Schmidt pass, whose
    rounding leaves w ~1e-3 off orthogonal to q; the second pass (taken because the norm fell by more than 1/sqrt(2))
    brings it to rounding level. The new norm is 1e-13, by hand. Random spectra never triggered the second pass
    (a mutation that dropped it survived 135 of them). Does not prove: the 1/sqrt(2) threshold is the best one."""
    q = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) / 14 ** 0.5
    p = torch.tensor([3.0, 0.0, -1.0], dtype=torch.float64) / 10 ** 0.5
    w = q + 1e-13 * p
    norm = _reorthogonalize(w, q[None, :], float(w.norm()))
    assert abs(norm - 1e-13) < 1e-17
    assert abs(float(q @ w)) / float(w.norm()) < 1e-12


def test_lanczos_stops_at_an_invariant_subspace_whose_last_alpha_is_zero():
    """A = Q diag(-1, 3, 0, 0, 0, 0) Q^T from v0 = Q (1/2, sqrt(3)/2, 0, ...): the Krylov space has dimension 2, so
    Lanczos stops after 2 steps with Ritz values -1, 3 and weights 1/4, 3/4 (v0's squared components). The second
    alpha is 0 (trace of T: alpha_1 + alpha_2 = -1 + 3 = alpha_1 = 2), so the breakdown test must scale its
    tolerance by the largest |alpha| seen, not the last (which carried on and added Ritz values at rounding noise).
    Does not prove: the tolerance is right for nearly invariant subspaces."""
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    a = q @ torch.diag(torch.tensor([-1.0, 3.0, 0, 0, 0, 0], dtype=torch.float64)) @ q.T
    v0 = q @ torch.tensor([0.5, 3 ** 0.5 / 2, 0, 0, 0, 0], dtype=torch.float64)
    r = lanczos(lambda x: a @ x, 6, 4, v0=v0)
    assert r.steps == 2
    np.testing.assert_allclose(r.ritz, [-1.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(r.weights, [0.25, 0.75], atol=1e-12)


def test_outlier_mass_counts_only_ritz_values_strictly_above_the_threshold():
    """A Ritz value equal to the threshold is not an outlier (the docstring's "above"). Does not prove: where the
    bulk ends on a real spectrum."""
    assert outlier_mass([np.array([1.0, 2.0])], [np.array([0.25, 0.75])], 2.0) == 0.0
    assert outlier_mass([np.array([1.0, 2.0])], [np.array([0.25, 0.75])], 1.5) == 0.75


def test_hutchinson_is_exact_on_a_diagonal_matrix_with_rademacher_probes():
    """z^T D z = sum d_i z_i^2 = tr D for every +-1 vector z, so Rademacher probes give the trace 10 of diag(1, 2, 3,
    4) with standard error 0 (Gaussian probes, also unbiased, passed the 2000-probe statistical test). Does not
    prove: the variance on non-diagonal matrices (the statistical test's)."""
    d = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    est, se = hutchinson(lambda v: d @ v, 4, 5, generator=torch.Generator().manual_seed(0))
    assert est == 10.0 and se == 0.0


class _Counter(nn.Module):
    """Counts its forward calls in a buffer (a module that writes a buffer in forward, unlike BatchNorm in train
    mode with ``track_running_stats`` off)."""
    def __init__(self):
        super().__init__()
        self.register_buffer("n", torch.zeros(()))

    def forward(self, x):
        self.n.add_(1)
        return x


def test_bn_mode_restores_every_buffer_a_forward_wrote():
    """bn_mode promises to restore modes and all buffers: a buffer written inside it reads as before afterwards.
    Every BatchNorm of the package leaves its buffers alone inside bn_mode, so only such a module can see the
    restore. Does not prove: anything about the curvature measured inside."""
    m = nn.Sequential(nn.Linear(2, 2), _Counter())
    with bn_mode(m, "train"):
        m(torch.ones(3, 2))
    assert float(m[1].n) == 0.0


def test_a_batch_loss_equal_to_blowup_times_the_start_is_not_a_blow_up(monkeypatch):
    """The criterion flags a batch loss that exceeds blowup x start: four identical rows make the first batch loss
    equal the start exactly, and with blowup 1 and a falling probe loss the run is stable. Does not prove: the
    default blowup's merit (test_spectra_tools)."""
    x, y = torch.ones(4, 1, dtype=torch.float64), torch.zeros(4, dtype=torch.long)
    m = _Logit(2.0)
    monkeypatch.setattr(lr_search, "make_optimizer", lambda name, params, lr, momentum: _Scripted(m.w, [3.0]))
    assert lr_search.is_stable(m, x, y, optimizer="sgd", lr=1.0, batch_size=4, steps=1, blowup=1.0, probe=4)
