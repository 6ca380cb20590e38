"""Models, fits, bisection, the SLQ learner's rule, peers agreement, the HVP benchmark and the study configs."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
import torch
import torch.nn.functional as F

from tests.conftest import with_cuda
from workbench.config import ConfigError, from_dict
from workbench.spectra import bench, peers
from workbench.spectra.fits import (critical_batch, critical_batches, fit_break, fit_inverse_batch, fit_loglog,
                                    slope_fits)
from workbench.spectra.hvp import curvature_operator, has_bn
from workbench.spectra.lanczos import lanczos
from workbench.spectra.lr_search import bisect_max_lr, is_stable
from workbench.spectra.models import MODELS, build_model, n_params
from workbench.spectra.slq_learner import SLQLearner, heavy_ball
from workbench.spectra.study import BatchSizeSpectraConfig, LrScalingConfig
from workbench.spectra.train import evaluate, train_epochs


@pytest.mark.parametrize("name", ["mlp", "small_cnn", "vgg11", "vgg16", "wrn"])
@pytest.mark.parametrize("bn", [False, True])
def test_every_model_builds_and_maps_shapes(name, bn):
    """Every registered model maps (N, C, H, W) to (N, classes) and has BN exactly when asked.

    Does not prove: that the architectures match the papers' parameter counts beyond WRN-16-4's."""
    shape = (3, 32, 32) if name in ("vgg11", "vgg16", "wrn") else (1, 8, 8)
    kw = {"width": 8} if name.startswith("vgg") else ({"widen": 1} if name == "wrn" else {})
    m = build_model(name, shape, 10, bn=bn, **kw)
    assert m(torch.randn(2, *shape)).shape == (2, 10)
    assert has_bn(m) == bn
    assert set(MODELS.names()) == {"mlp", "small_cnn", "vgg11", "vgg16", "wrn"}


def test_wrn16_4_size_and_vgg_rejects_small_images():
    """WRN-16-4 has ~2.7M parameters (as published); VGG refuses 8x8 inputs with a clear error.
    Does not prove: forward numerics of the large models."""
    assert 2.6e6 < n_params(build_model("wrn", (3, 32, 32), 10, bn=True)) < 2.8e6
    with pytest.raises(ValueError, match="divide by 32"):
        build_model("vgg11", (1, 8, 8), 10)
    with pytest.raises(ValueError, match="Unrecognized model.*known"):
        build_model("resnet", (1, 8, 8), 10)


def test_fit_inverse_batch_recovers_known_law():
    """On exact a + c(1/B - 1/N) data the fit returns a, c and R^2 = 1; on a different law R^2 drops.
    Does not prove: robustness to batch-to-batch noise (reported, not tested)."""
    b = np.array([16, 64, 256, 1024])
    f = fit_inverse_batch(b, 3.0 + 40.0 * (1 / b - 1 / 2000), n_total=2000)
    assert f["a"] == pytest.approx(3.0) and f["c"] == pytest.approx(40.0) and f["r2"] == pytest.approx(1.0)
    assert fit_inverse_batch(b, 3.0 + 40.0 / np.sqrt(b))["r2"] < 0.999
    with pytest.raises(ValueError):
        fit_inverse_batch([16, 16, 64], [1, 2, 3])


def test_weighted_fit_intervals_and_goodness_of_fit():
    """Per-B means of a + c(1/B - 1/N) plus Gaussian noise of known se: the 95% intervals contain the true a and
    c, the chi2 test does not reject, and the free exponent's interval contains 1 and excludes 1/2. Means of a
    c/sqrt(B) law with the same se: the chi2 test rejects the 1/B form and alpha's interval excludes 1.
    Does not prove: interval coverage (one noise draw), nor anything about skewed batch-to-batch noise."""
    from workbench.spectra.fits import fit_excess_exponent
    rng = np.random.default_rng(1)
    b, n = np.array([16, 32, 64, 128, 256, 512, 1024]), 1437
    x = 1 / b - 1 / n
    se = 0.02 + 0.5 * x
    f = fit_inverse_batch(b, 3.0 + 60.0 * x + rng.normal(0, se), n_total=n, se=se)
    assert f["weighted"] and f["a_lo"] < 3.0 < f["a_hi"] and f["c_lo"] < 60.0 < f["c_hi"]
    assert f["dof"] == 5 and f["p_value"] > 0.05 and f["r2"] > 0.95
    al = fit_excess_exponent(b, 60.0 * x + rng.normal(0, se), se, n)
    assert al["alpha_lo"] < 1.0 < al["alpha_hi"] and al["alpha_lo"] > 0.5
    sqrt_law = 4.0 * np.sqrt(x) + rng.normal(0, se)
    assert fit_inverse_batch(b, 3.0 + sqrt_law, n_total=n, se=se)["p_value"] < 1e-3
    al = fit_excess_exponent(b, sqrt_law, se, n)
    assert al["alpha_hi"] < 1.0 and al["alpha_lo"] < 0.5 < al["alpha_hi"]


def test_lambda_fits_on_batch_scatter():
    """A lambda_max table whose batches scatter widely (sd 3 / sqrt(B/16), as on digits) around exactly
    a + c(1/B - 1/N): the weighted fit of the means recovers a and c within their intervals, with residuals
    within 3 se and a high R^2, while the R^2 over single batches (the old statistic) stays low: no function of
    B explains the scatter.
    Does not prove: that real batch Hessians behave so (the study measures that)."""
    from workbench.spectra.fits import lambda_fits
    rng = np.random.default_rng(0)
    n, rows = 1437, []
    for B in [16, 32, 64, 128, 256, 512, 1024]:
        mean = 3.0 + 60.0 * (1 / B - 1 / n)
        rows += [{"curvature": "hessian", "scope": "batch", "batch_size": B, "lambda_max": v}
                 for v in mean + rng.normal(0, 3.0 / np.sqrt(B / 16), 16)]
    rows.append({"curvature": "hessian", "scope": "full", "batch_size": n, "lambda_max": 3.0})
    fits, resid = lambda_fits(pd.DataFrame(rows))
    f = fits.iloc[0]
    assert f.a_lo < 3.0 < f.a_hi and f.c_lo < 60.0 < f.c_hi and f.batches_per_size == 16
    assert f.r2 > 0.8 and f.r2_points < 0.5 and abs(f.a_vs_full_se) < 3
    assert len(resid) == 7 and (resid.z.abs() < 3).all()


def test_fit_loglog_slope_and_interval():
    """Noisy power law with slope 0.5: the 95% CI contains 0.5 and excludes 1; noiseless gives the exact slope.
    Does not prove: the CI's coverage (one seed)."""
    rng = np.random.default_rng(0)
    b = np.repeat([8, 32, 128, 512], 3)
    f = fit_loglog(b, 0.01 * b ** 0.5 * np.exp(rng.normal(0, 0.1, len(b))))
    assert f["slope_lo"] < 0.5 < f["slope_hi"] < 1.0
    assert fit_loglog(b, b ** 1.0)["slope"] == pytest.approx(1.0)
    assert fit_loglog(b, b ** 1.0, max_x=32)["n"] == 6


def test_fit_loglog_flat_regime_has_a_finite_interval():
    """Every lr_max equal (a regime the bisection's fixed lr grid makes exactly flat, as the paper predicts above the
    critical batch size; a CPU rehearsal of lr_scaling:gpu hit it): slope 0 with a finite zero-width CI that holds
    it, which the notebook asserts of every fit (scipy's linregress gives stderr NaN there). The slope's standard
    error of a noisy fit is unchanged (linregress's own, from r).
    Does not prove: that a zero-width interval reflects the bisection's resolution (it does not; the notebook
    prints that resolution apart)."""
    b = np.repeat([16, 64, 256], 2)
    f = fit_loglog(b, np.full(len(b), 0.1))
    assert f["slope"] == 0.0 and f["slope_lo"] == f["slope_hi"] == 0.0
    lr = pd.DataFrame({"optimizer": "adam", "batch_size": np.repeat([4, 16, 64], 2),
                       "lr_max": [1e-3, 1e-3, 1e-2, 1e-2, 1e-2, 1e-2], "censored": False})
    above = slope_fits(lr, max_batch=16).set_index("regime").loc["above"]
    assert above.slope_lo <= above.slope <= above.slope_hi and np.isfinite(above.slope_hi - above.slope_lo)
    rng = np.random.default_rng(1)
    x, y = np.log(b), 0.5 * np.log(b) + rng.normal(0, 0.2, len(b))
    g, ref = fit_loglog(b, np.exp(y)), stats.linregress(x, y)
    assert g["slope_hi"] - g["slope"] == pytest.approx(stats.t.ppf(0.975, len(b) - 2) * ref.stderr)


def test_slope_fits_split_at_the_critical_batch_size():
    """lr_max = B / 100 up to B = 32, flat above: the fit below 32 gives slope 1, the one above gives 0, censored
    rows are left out, and the critical batch size of a lambda fit is c / a.
    Does not prove: that a measured sweep has such a clean break."""
    b = np.repeat([4, 8, 16, 32, 128, 512], 2)
    lr = pd.DataFrame({"optimizer": "sgd", "batch_size": b, "lr_max": np.minimum(b, 32) / 100.0, "censored": False})
    lr.loc[len(lr)] = {"optimizer": "sgd", "batch_size": 4, "lr_max": 10.0, "censored": True}
    f = slope_fits(lr, max_batch=32).set_index("regime")
    assert f.loc["below", "slope"] == pytest.approx(1.0) and f.loc["below", "n"] == 8
    assert f.loc["above", "slope"] == pytest.approx(0.0, abs=1e-9) and f.loc["above", "n"] == 6
    assert (f.loc["below", "min_batch"], f.loc["below", "max_batch"], f.loc["above", "max_batch"]) == (4, 32, 512)
    assert list(slope_fits(lr, max_batch=512).regime) == ["below"]   # one size above: no fit there
    thin = slope_fits(lr, max_batch=4).set_index("regime")  # one size up to the cap: a NaN row, not a crash
    assert np.isnan(thin.loc["below", "slope"]) and thin.loc["below", "n"] == 2
    assert thin.loc["above", "slope"] == pytest.approx(0.45, abs=0.2)
    assert critical_batch({"a": 2.0, "c": 20.0}) == pytest.approx(10.0)
    assert np.isnan(critical_batch({"a": 2.0, "c": -1.0}))
    # c = 14.3 with a 95% interval [-10.4, 39.1] (an lr_scaling CPU run): c/a is not determined
    assert np.isnan(critical_batch({"a": 1.12, "a_lo": 0.29, "c": 14.3, "c_lo": -10.4}))
    assert critical_batch({"a": 2.0, "a_lo": 1.5, "c": 20.0, "c_lo": 5.0}) == pytest.approx(10.0)
    # with the finite-population term: c (1/B - 1/N) = a at B = 1 / (a/c + 1/N), 93.5 for N 1437, not c/a = 100
    crit = critical_batch({"a": 1.0, "c": 100.0, "n_total": 1437})
    assert crit == pytest.approx(93.49, abs=0.01) and 100.0 * (1 / crit - 1 / 1437) == pytest.approx(1.0)


def test_critical_batch_read_from_the_measurements():
    """lr_max grows like B (SGD) or sqrt(B) (Adam) up to B = 16 and is flat above, with 10% log-normal noise: the
    fitted break is 16 for both; a plain power law has no break (inf); slope_fits then splits each optimizer at its
    own size. Does not prove: that a measured sweep's break is where the lr law changes for a reason."""
    rng = np.random.default_rng(0)
    b = np.repeat([2, 4, 8, 16, 32, 64, 128, 256], 3)
    noise = np.exp(rng.normal(0, 0.1, (2, len(b))))
    lr = pd.concat([pd.DataFrame({"optimizer": "sgd", "batch_size": b, "lr_max": np.minimum(b, 16) / 100 * noise[0]}),
                    pd.DataFrame({"optimizer": "adam", "batch_size": b,
                                  "lr_max": np.minimum(b, 16) ** 0.5 / 1000 * noise[1]})]).assign(censored=False)
    assert critical_batches(lr) == {"adam": 16.0, "sgd": 16.0}
    f = slope_fits(lr, max_batch=critical_batches(lr)).set_index(["optimizer", "regime"])
    assert f.loc[("sgd", "below"), "slope_lo"] < 1.0 < f.loc[("sgd", "below"), "slope_hi"]
    assert f.loc[("adam", "below"), "slope_lo"] < 0.5 < f.loc[("adam", "below"), "slope_hi"]
    assert f.loc[("sgd", "above"), "min_batch"] == 16 and f.loc[("sgd", "above"), "n"] == 15
    # noise[0] on a plain power law is among the ~3% of pure-noise series a 5% test flags (a break at 32)
    assert fit_break(b, b / 100 * noise[1]) == math.inf and fit_break(b, b / 100 * noise[0], level=0.01) == math.inf
    with pytest.raises(ConfigError, match="critical_batch_size"):
        LrScalingConfig(critical_batch_size=-1).validate()


def test_fit_break_flags_noise_at_about_its_level_and_finds_real_breaks():
    """The break test's size and power on the lr_scaling layout (8 batch sizes x 3 seeds, Gaussian noise on log
    lr), 400 series each with a fixed seed: pure noise gets a break in 2-5% of series at level 0.05 (F(1, n - 3)
    per candidate, Bonferroni over 6 candidates: 3.3% in 3000 series; F(2, n - 4) on top of Bonferroni gave 0.8%),
    and a real break at B = 16 under noise of sd 0.6 is found in most series (88% against 70%). Not proved: the
    level for other layouts, or noise that is not Gaussian."""
    rng = np.random.default_rng(0)
    b = np.repeat([2, 4, 8, 16, 32, 64, 256, 1024.0], 3)
    null = np.mean([math.isfinite(fit_break(b, b * np.exp(0.3 * rng.standard_normal(len(b))))) for _ in range(400)])
    hits = [fit_break(b, np.minimum(b, 16) * np.exp(0.6 * rng.standard_normal(len(b)))) for _ in range(400)]
    assert 0.02 <= null <= 0.05
    assert np.mean(np.isfinite(hits)) >= 0.8


def test_bisection_finds_a_known_threshold():
    """With stable(lr) = lr < 0.37 the bracket ends around 0.37 within the bisection's resolution, also when
    the initial bracket has to be widened; fully stable brackets are flagged censored.
    Does not prove: anything about real training runs, whose stability need not be monotone in lr."""
    r = bisect_max_lr(lambda lr: lr < 0.37, 1e-3, 1.0, iters=12)
    assert r["lr_max"] < 0.37 <= r["lr_fail"] and r["lr_fail"] / r["lr_max"] < 1.01 and not r["censored"]
    r = bisect_max_lr(lambda lr: lr < 37.0, 1e-3, 1.0, iters=8)
    assert r["lr_max"] < 37.0 <= r["lr_fail"] and not r["censored"]
    assert bisect_max_lr(lambda lr: True, 1e-3, 1.0, iters=3, max_widen=2)["censored"]


def test_bisection_tries_no_lr_twice():
    """A trial is a whole training run: after widening the bracket down, its top (the last bottom tried, known
    unstable) is not tried again (it was, once: 1e-3 twice below)."""
    for threshold in (5e-4, 0.37, 37.0):
        calls = []
        r = bisect_max_lr(lambda lr: calls.append(lr) or lr < threshold, 1e-3, 1.0, iters=4)
        assert len(set(calls)) == len(calls) == r["trials"], calls
        assert r["lr_max"] < threshold <= r["lr_fail"] and not r["censored"]


def test_divergence_criterion_on_a_tiny_model():
    """A tiny lr is stable, a huge one diverges, under the documented criterion.
    Does not prove: where the boundary lies (the study measures it)."""
    torch.manual_seed(0)
    x, y = torch.randn(256, 1, 4, 4), torch.randint(0, 3, (256,))
    mk = lambda: build_model("mlp", (1, 4, 4), 3)  # noqa: E731
    torch.manual_seed(0)
    m0 = mk()
    state = m0.state_dict()

    def fresh():
        m = mk()
        m.load_state_dict(state)
        return m
    assert is_stable(fresh(), x, y, optimizer="sgd", lr=0.05, batch_size=32, steps=20)
    assert not is_stable(fresh(), x, y, optimizer="sgd", lr=1e4, batch_size=32, steps=20)


def _tiny_stability_problem():
    torch.manual_seed(0)
    x, y = torch.randn(256, 1, 4, 4), torch.randint(0, 3, (256,))
    torch.manual_seed(0)
    return build_model("mlp", (1, 4, 4), 3), x, y


def test_stability_needs_the_probe_loss_to_fall():
    """No step taken (end == start) is not stable: the criterion asks for a strict decrease. A ``blowup`` factor
    below 1 flags the first batch (its loss is not below half the start) in a run that is otherwise stable.
    Does not prove: that the default blowup=10 separates stable from unstable runs on real data."""
    kw = dict(optimizer="sgd", lr=0.05, batch_size=32)
    m, x, y = _tiny_stability_problem()
    assert not is_stable(m, x, y, steps=0, **kw)
    m, x, y = _tiny_stability_problem()
    assert is_stable(m, x, y, steps=20, **kw)  # the same run, unguarded: stable
    m, x, y = _tiny_stability_problem()
    assert not is_stable(m, x, y, steps=20, blowup=0.5, **kw)


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_train_epochs_schedule_sets_each_steps_lr(monkeypatch, schedule):
    """The lr each SGD step runs with is 0.5 lr (1 + cos(pi s / S)) at step s of S = epochs * (n // batch) steps
    (cosine) or lr (constant); each row reports the last step's lr.
    Does not prove: anything about Adam (the same code path sets its lr) or about training quality."""
    seen = []
    real_step = torch.optim.SGD.step

    def step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)
    monkeypatch.setattr(torch.optim.SGD, "step", step)
    torch.manual_seed(0)
    x, y = torch.randn(100, 1, 4, 4), torch.randint(0, 3, (100,))
    rows = train_epochs(build_model("mlp", (1, 4, 4), 3), x, y, x, y, epochs=2, batch_size=32, lr=0.2,
                        schedule=schedule)
    total = 2 * (100 // 32)  # the last partial batch of each epoch is dropped
    want = [0.1 * (1 + math.cos(math.pi * s / total)) if schedule == "cosine" else 0.2 for s in range(total)]
    assert seen == pytest.approx(want, rel=1e-12)
    assert [r["lr"] for r in rows] == pytest.approx([want[2], want[5]], rel=1e-12)


def test_heavy_ball_rule():
    """kappa = 1 gives lr = 1/lambda and no momentum; kappa = 100 gives Polyak's values (momentum 0.669 capped).
    Does not prove: that these settings train a network well (the study compares)."""
    assert heavy_ball(4.0, 4.0) == pytest.approx((0.25, 0.0))
    lr, mom = heavy_ball(100.0, 1.0, momentum_max=0.99)
    assert lr == pytest.approx(4 / 121) and mom == pytest.approx((9 / 11) ** 2)
    assert heavy_ball(100.0, 1.0, momentum_max=0.5)[1] == 0.5


@pytest.mark.parametrize("kappa", [10, 100, 1000, 1500, 3000, 10000])
def test_heavy_ball_rule_is_stable_on_its_quadratic_also_at_the_momentum_cap(kappa):
    """On a quadratic with eigenvalues spread over [lambda_max / kappa, lambda_max], heavy ball (torch's SGD
    momentum form) at the rule's lr and momentum contracts: every eigenvalue's 2x2 iteration matrix has spectral
    radius below 1. Polyak's lr with the capped momentum (0.9) did not above kappa ~1440 (1.22 at 3000).
    Does not prove: stability on a network, whose curvature moves between estimates."""
    lams = np.linspace(1.0 / kappa, 1.0, 400)
    lr, mu = heavy_ball(1.0, 1.0 / kappa, momentum_max=0.9)
    radius = max(max(abs(np.linalg.eigvals(np.array([[1 + mu - lr * lam, -mu], [1.0, 0.0]])))) for lam in lams)
    assert radius < 1.0
    if kappa >= 1500:  # the cap binds; the top eigenvalue sits at the critically damped point, modulus sqrt(0.9)
        top = max(abs(np.linalg.eigvals(np.array([[1 + mu - lr, -mu], [1.0, 0.0]]))))
        assert mu == 0.9 and top == pytest.approx(0.9 ** 0.5, rel=1e-4)


def test_evaluate_in_chunks_equals_one_pass_in_eval_mode():
    """Mean cross-entropy and accuracy over 20 examples in chunks of 7 (the last one short) equal one pass of the
    model in eval mode (BatchNorm on running statistics), and the model's mode is restored. Catches a mean over
    chunks instead of examples, or train-mode statistics."""
    torch.manual_seed(0)
    m = build_model("small_cnn", (1, 8, 8), 3, bn=True)
    x, y = torch.randn(20, 1, 8, 8), torch.randint(0, 3, (20,))
    m.train()
    m(torch.randn(32, 1, 8, 8) + 1.0)  # running statistics away from the batch's own
    loss, acc = evaluate(m, x, y, chunk=7)
    assert m.training
    m.eval()
    with torch.no_grad():
        out = m(x)
    assert loss == pytest.approx(float(F.cross_entropy(out, y)), rel=1e-5)
    assert acc == pytest.approx(float((out.argmax(1) == y).float().mean()))


def test_slq_learner_sets_lr_from_lanczos():
    """Inside a training loop the learner writes lr/momentum into the optimiser at its period and records
    positive lambda_max >= lambda_min estimates, with the BN mode and statistics of each.
    Does not prove: the learner's training quality."""
    torch.manual_seed(0)
    x, y = torch.randn(128, 1, 4, 4), torch.randint(0, 3, (128,))
    m = build_model("mlp", (1, 4, 4), 3)
    learner = SLQLearner(period=2, lanczos_steps=8)
    rows = train_epochs(m, x, y, x, y, epochs=1, batch_size=32, lr=0.01, on_step=learner)
    assert [h["step"] for h in learner.history] == [0, 2]
    h = learner.history[-1]
    assert rows[0]["lr"] == pytest.approx(h["lr"]) and rows[0]["momentum"] == pytest.approx(h["momentum"])
    assert h["lambda_max"] >= h["lambda_min"] > 0
    for h in learner.history:  # the rule itself: Polyak's heavy ball on the bulk edge above lambda_max / kappa_max
        assert (h["lr"], h["momentum"]) == pytest.approx(heavy_ball(h["lambda_max"], h["lambda_min"]))
        assert h["lambda_min"] > h["lambda_max"] / learner.kappa_max
    assert all(h["bn_mode"] == "eval" and h["bn_stats"] == "none" for h in learner.history)  # the MLP has no BN


def test_peers_agree_with_explicit_top_eigenvalue():
    """PyHessian, curvlinops, our Lanczos (fixed steps, and the adaptive rule at tol 1e-4 from two seeds) and our
    power iteration find the top Hessian eigenvalue of a tiny MLP batch; all agree with eigh of the explicit
    Hessian (ours and curvlinops to 1e-6 / 1e-4, PyHessian's power iteration to its 1e-3 tol scale, and within 1e-4
    at tol 1e-6, with at least as many matvecs); the summary has one row per
    method with medians over seeds and PyHessian as the time unit. Our Hutchinson trace (200 probes) is within 4
    standard errors of the explicit trace; PyHessian's is computed beside it.
    Does not prove: timings (machine-dependent), nor train-mode BN (PyHessian cannot do it), nor the accuracy of
    PyHessian's trace (it stops at its own tolerance)."""
    for package in ("pyhessian", "curvlinops"):  # a missing peer gives a "not installed" row, not the rows read here
        pytest.importorskip(package, reason=f"peer package {package} is not installed")
    torch.manual_seed(0)
    x, y = torch.randn(64, 1, 4, 4), torch.randint(0, 3, (64,))
    m = build_model("mlp", (1, 4, 4), 3, width=8)
    op = curvature_operator(m, F.cross_entropy, [(x, y)])
    H = torch.stack([op(e) for e in torch.eye(op.dim, dtype=torch.float64)], 1)
    top = float(torch.linalg.eigvalsh((H + H.T) / 2)[-1])
    table = peers.compare(m, x, y, "eval", top, our_steps=(30,), seeds=(0, 1), repeats=1, warmup=0, trace_iter=200)
    rows = {(r["method"], r.get("seed")): r for r in table}
    ours_tr, exact_tr = rows[("hutchinson trace (200 probes)", 0)], float(torch.trace(H))
    assert abs(ours_tr["trace"] - exact_tr) <= 4 * ours_tr["trace_se"] and ours_tr["matvecs"] == 200
    assert math.isfinite(rows[("hutchinson trace", 0)]["trace"])   # PyHessian's (it stops at its own tol)
    assert rows[("lanczos 30 steps", 0)]["rel_error"] < 1e-6
    for seed in (0, 1):
        for estimate in ("residual", "kato_temple"):
            adaptive = rows[(f"lanczos tol 0.0001 {estimate} (max 40 steps)", seed)]
            assert adaptive["rel_error"] <= 1e-4 and adaptive["matvecs"] < 30
        assert rows[("power iteration tol 0.001", seed)]["rel_error"] < 3e-2
        assert rows[("power iteration tol 0.001", seed)]["matvecs"] >= 2
        tight, loose = rows[("power iteration tol 1e-06", seed)], rows[("power iteration tol 0.001", seed)]
        # PyHessian's tighter rows (the equal-accuracy reading): more matvecs, within 1e-4 here
        assert tight["matvecs"] >= loose["matvecs"] and tight["rel_error"] <= min(1e-4, loose["rel_error"] + 1e-12)
        ours_power = rows[("power iteration (ours) tol 0.001", seed)]   # the same scheme on our HVP
        assert ours_power["rel_error"] < 3e-2 and ours_power["matvecs"] >= 2
    assert rows[("HessianLinearOperator + eigsh", 0)]["rel_error"] < 1e-5
    assert "torch.eig" in rows[("density", None)]["note"]
    # curvlinops is timed on its own, after the others' rounds: its ratio to PyHessian says so
    assert rows[("HessianLinearOperator + eigsh", 0)]["timed"] == "apart"
    assert rows[("lanczos 30 steps", 0)]["timed"] == rows[("power iteration tol 0.001", 0)]["timed"] == "in turn"
    summary = peers.summary(pd.DataFrame(table))
    assert summary.set_index("tool").loc["curvlinops", "timed"] == "apart"
    pyh = summary[summary.method == "power iteration tol 0.001"].iloc[0]
    assert pyh.seeds == 2 and pyh.x_pyhessian == 1.0
    assert summary.method.is_unique and (summary.seconds > 0).all()
    assert summary.dropna(subset=["trace"]).method.tolist() == ["hutchinson trace (200 probes)", "hutchinson trace"]


def test_time_interleaved_runs_each_in_turn():
    """Every run is called warmup + repeats times, in turn within each round, and gets a positive median.
    Does not prove: that interleaving removes load effects (a statistical claim about the machine)."""
    calls = []
    runs = [lambda: calls.append("a"), lambda: calls.append("b")]
    secs = peers.time_interleaved(runs, "cpu", repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4 and len(secs) == 2 and all(s > 0 for s in secs)


def test_hvp_cost_rows():
    """The benchmark returns every method with grad as the unit. Does not prove: the ratios (machine-dependent)."""
    m = build_model("mlp", (1, 4, 4), 3)
    rows = bench.hvp_cost(m, F.cross_entropy, torch.randn(32, 1, 4, 4), torch.randint(0, 3, (32,)), repeats=3, warmup=1)
    assert [r["method"] for r in rows][0] == "grad" and rows[0]["ratio_to_grad"] == 1.0
    assert all(r["median_ms"] > 0 and math.isfinite(r["ratio_to_grad"]) for r in rows) and len(rows) == 6
    assert {r["bn_mode"] for r in rows} == {"eval"}
    bn = build_model("small_cnn", (1, 8, 8), 3, bn=True, width=2).eval()
    before = [b.clone() for b in bn.buffers()]
    rows = bench.hvp_cost(bn, F.cross_entropy, torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,)), repeats=1,
                          warmup=0, bn="train")   # every method, torch.func's included, with batch statistics
    assert {r["bn_mode"] for r in rows} == {"train"} and len(rows) == 6
    assert not bn.training and all(torch.equal(a, b) for a, b in zip(before, bn.buffers()))  # restored


def test_hvp_cost_memory_calls_build_what_their_method_keeps(monkeypatch):
    """Each row's memory call (``_peak_bytes``, CUDA only, faked here) runs the model forward: the kept methods'
    graphs are built inside the measured call, so their memory is not read as one backward's temporaries while
    torch.func, which keeps nothing, pays its whole working set (it was then never picked on a GPU)."""
    m = build_model("mlp", (1, 4, 4), 3)
    forwards, per_row = [0], []
    m.register_forward_hook(lambda *a: forwards.__setitem__(0, forwards[0] + 1))

    def fake_peak(fn, dev):
        before = forwards[0]
        fn()
        per_row.append(forwards[0] - before)
        return 1.0
    monkeypatch.setattr(bench, "_peak_bytes", fake_peak)
    rows = bench.hvp_cost(m, F.cross_entropy, torch.randn(8, 1, 4, 4), torch.randint(0, 3, (8,)), repeats=1, warmup=0)
    assert len(per_row) == len(rows) == 6 and min(per_row) >= 1, dict(zip([r["method"] for r in rows], per_row))


def test_fastest_methods_picks_per_curvature_by_median_ratio():
    """Hand-made cost rows: the Hessian's kept-graph double backward beats torch.func, the GGN's forward mode
    beats the double-vjp one (as FLOP counts predict for convolutions); the median over batch sizes decides,
    unless the faster one needs more than 1.5x double backward's memory.
    Does not prove: that the measured ratios on a real machine pick the faster method (they are inputs here)."""
    rows = [("grad", 1.0, 1.0), ("hvp_double_backward", 3.0, 3.0), ("hvp_double_backward_kept", 2.0, 2.5),
            ("hvp_func", 4.0, 2.0), ("ggn_kept", 2.2, 2.4), ("ggn_func", 1.8, 2.0)]
    cost = pd.DataFrame([{"method": m, "batch_size": b, "ratio_to_grad": r, "mem_ratio_to_grad": math.nan}
                         for m, r64, r256 in rows for b, r in ((64, r64), (256, r256))])
    assert bench.fastest_methods(cost) == {"hessian": "double_backward", "ggn": "func"}
    hungry = cost.assign(mem_ratio_to_grad=cost["method"].map({"ggn_kept": 1.5, "ggn_func": 3.0}))  # as on CUDA
    assert bench.fastest_methods(hungry)["ggn"] == "double_backward"  # faster, but twice the memory
    with pytest.raises(ConfigError, match="hvp_method"):
        BatchSizeSpectraConfig(hvp_method="finite_differences").validate()


def test_hvp_bar_lines_judge_the_matvec_the_spectra_use_at_large_batches():
    """Hand-made rows: at B = 256 the kept Hessian matvec costs 2.5x a gradient (not met) and, on CUDA, 1.8x its
    memory (met); the GGN's forward mode 1.8x (met) with no memory reading (CPU); B = 64 does not count. Without a
    benched B >= 256 the bar is said not judged."""
    rows = [("hvp_double_backward_kept", 64, 9.0, 9.0), ("hvp_double_backward_kept", 256, 2.5, 1.8),
            ("ggn_func", 256, 1.8, math.nan), ("hvp_func", 256, 1.0, 1.0)]
    cost = pd.DataFrame([{"method": m, "batch_size": b, "ratio_to_grad": r, "mem_ratio_to_grad": mem}
                         for m, b, r, mem in rows])
    lines = bench.hvp_bar_lines(cost, {"hessian": "double_backward", "ggn": "func"})
    assert lines == ["hessian matvec (hvp_double_backward_kept) at B = 256: time 2.50x a gradient (bar <= 2: not "
                     "met); memory 1.80x (bar <= 2: met)",
                     "ggn matvec (ggn_func) at B = 256: time 1.80x a gradient (bar <= 2: met); memory not measured "
                     "(peak memory is read on CUDA only)"]
    assert "not judged" in bench.hvp_bar_lines(cost[cost.batch_size < 256], {"hessian": "double_backward"})[0]


@with_cuda
def test_operator_same_on_every_device(device):
    """The batch Hessian matvec agrees between CPU and GPU (float64 model).
    Does not prove: float32 agreement on GPU, or speed."""
    torch.manual_seed(0)
    m = build_model("small_cnn", (1, 8, 8), 3, bn=True, width=2).double()
    x, y = torch.randn(16, 1, 8, 8, dtype=torch.float64), torch.randint(0, 3, (16,))
    v = torch.randn(n_params(m), dtype=torch.float64)
    ref = curvature_operator(m, F.cross_entropy, [(x, y)], bn="train")(v)
    md = m.to(device)
    out = curvature_operator(md, F.cross_entropy, [(x.to(device), y.to(device))], bn="train")(v.to(device))
    torch.testing.assert_close(out.cpu(), ref)
    res = lanczos(curvature_operator(md, F.cross_entropy, [(x.to(device), y.to(device))]), len(v), 5,
                  device=device)
    assert res.orthogonality_loss < 1e-10


def test_configs_reject_bad_values():
    """Unknown keys, unknown models and bad brackets raise ConfigError naming the problem.
    Does not prove: that every bad combination is caught."""
    assert from_dict(BatchSizeSpectraConfig, {}).model == "mlp"
    with pytest.raises(ConfigError, match="unknown parameter"):
        from_dict(LrScalingConfig, {"lr_max": 1.0})
    with pytest.raises(ConfigError, match="model must be one of"):
        from_dict(BatchSizeSpectraConfig, {"model": "resnet"})
    with pytest.raises(ConfigError, match="lr_lo"):
        from_dict(LrScalingConfig, {"lr_lo": 1.0, "lr_hi": 0.1})
    with pytest.raises(ConfigError, match="snapshot_epochs"):
        from_dict(BatchSizeSpectraConfig, {"snapshot_epochs": [99]})
    with pytest.raises(ConfigError, match="learner_scale"):
        from_dict(LrScalingConfig, {"learner_scale": 0.0})


def test_hvp_bar_reads_the_worst_large_batch():
    """The kept Hessian matvec at B = 256, 512, 1024 costs 1.5x, 2.5x, 1.8x a gradient: the bar reads the worst,
    2.50x, and is not met (the median, 1.8, would meet it)."""
    cost = pd.DataFrame([{"method": "hvp_double_backward_kept", "batch_size": b, "ratio_to_grad": r,
                          "mem_ratio_to_grad": math.nan} for b, r in ((256, 1.5), (512, 2.5), (1024, 1.8))])
    assert bench.hvp_bar_lines(cost, {"hessian": "double_backward"}) == [
        "hessian matvec (hvp_double_backward_kept) at B = 256, 512, 1024: time 2.50x a gradient (bar <= 2: not "
        "met); memory not measured (peak memory is read on CUDA only)"]
