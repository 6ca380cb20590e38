"""Two figures' readings, on hand-made tables: the explorer's metric against B keeps checkpoints apart and says what
it pools; the SLQ density's eigenvalue axis labels both sides of 0 and the outliers' range without crowding.

Does not prove: that a figure looks right (the report review does that), only what these assertions read."""
import matplotlib
import numpy as np
import pandas as pd
import pytest

from workbench.spectra import figures

matplotlib.use("Agg")


def test_metric_vs_batch_keeps_checkpoints_apart_and_pools_replicates_as_the_tables_do():
    """Batches of a B by their mean (the fit's per-B means), seeds by their median (lr_scaling's table); epochs
    never pooled (it once averaged epochs 0, 3, 6 into a model that never existed)."""
    rows = [{"epoch": e, "curvature": c, "batch_size": b, "batch_index": i, "lambda_max": v}
            for e, scale in ((0, 1.0), (6, 5.0)) for c in ("hessian", "ggn") for b in (16, 256)
            for i, v in enumerate((scale, 2 * scale, 10 * scale))]  # median 2 x scale, mean 13/3 x scale
    fig = figures.metric_vs_batch(pd.DataFrame(rows), "lambda_max", "curvature")
    lines = {ln.get_label(): tuple(ln.get_ydata()) for ln in fig.axes[0].get_lines()}
    assert set(lines) == {f"curvature={c}, epoch={e}" for c in ("ggn", "hessian") for e in (0, 6)}
    for label, ys in lines.items():
        assert ys == pytest.approx([13 / 3 * (5.0 if label.endswith("=6") else 1.0)] * 2)
    assert "mean over batches per B" in fig.axes[0].get_title()
    lr = pd.DataFrame([{"optimizer": "sgd", "batch_size": b, "seed": i, "lr_max": v}
                       for b in (8, 64) for i, v in enumerate((0.1, 0.2, 1.0))])
    fig = figures.metric_vs_batch(lr, "lr_max", "optimizer")
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == [0.2, 0.2] and "median over seeds" in fig.axes[0].get_title()
    # seeds and batches both varying: a B's batches by their mean per seed (11, 3, 6), then the seeds' median, 6
    both = pd.DataFrame([{"curvature": "hessian", "batch_size": 16, "seed": s, "batch_index": b, "lambda_max": v}
                         for s, vals in ((0, (1, 2, 30)), (1, (2, 3, 4)), (2, (5, 6, 7))) for b, v in enumerate(vals)])
    assert list(figures.metric_vs_batch(both).axes[0].get_lines()[0].get_ydata()) == [6.0]


def _ritz(full, batch):
    rows = [{"curvature": "hessian", "batch_size": 1000, "scope": "full", "probe": 0, "ritz": r, "weight": 0.1}
            for r in full]
    return pd.DataFrame(rows + [{"curvature": "hessian", "batch_size": 16, "scope": "batch", "probe": 0, "ritz": r,
                                 "weight": 0.1} for r in batch])


def test_density_axis_labels_negative_side_and_outliers_without_crowding():
    # as a digits run: the full spectrum in [-0.6, 2.4], a small batch's outliers up to 4.2
    fig = figures.densities(_ritz(np.linspace(-0.6, 2.4, 10), [-0.6, 0.0, 1.0, 3.5, 4.2]))
    ax = fig.axes[0]
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert min(ticks) < 0 and max(ticks) >= 4.0  # once: 0, 0.8, 1.6 only; then stopping at 3 short of the 4.2 peak
    pos = np.arcsinh(np.array(sorted(ticks)) / (2.4 / 2))
    assert np.diff(pos).min() >= 0.06 * (np.arcsinh(ax.get_xlim()[1] / 1.2) - np.arcsinh(ax.get_xlim()[0] / 1.2))
    # as a Fashion-MNIST run: decades beyond the linear part, where +-3 once crowded +-4.5 and +-1.5
    wide = figures.densities(_ritz(np.linspace(-4.8, 4.8, 10), [-70.0, -3.0, 0.0, 3.0, 120.0])).axes[0]
    assert [t.get_text() for t in wide.get_xticklabels()] == ["-50", "-20", "-10", "-4.5", "-1.5", "0", "1.5", "4.5",
                                                              "10", "20", "50", "100"]


def test_bn_modes_log_axis_labels_1_2_5_per_decade():
    """Values within 3..110 on a log axis: labelled at 1, 2 and 5 per decade in plain numbers (every minor tick in
    scientific notation, 2x10^1 3x10^1 4x10^1 6x10^1, once crowded each other)."""
    lam = pd.DataFrame([{"bn_mode": m, "scope": "batch", "batch_size": b, "lambda_max": v}
                        for m, vals in (("eval", (55, 110, 90)), ("train", (5, 9, 3.3)))
                        for b, v in zip((16, 128, 1024), vals)])
    ax = figures.bn_modes(lam).axes[0]
    assert ax.get_yscale() == "log"
    lo, hi = ax.get_ylim()
    shown = [(t.get_text(), v) for t, v in zip(ax.get_yticklabels(minor=True) + ax.get_yticklabels(),
                                                list(ax.get_yticks(minor=True)) + list(ax.get_yticks()))
             if t.get_text() and lo <= v <= hi]
    assert sorted(float(s) for s, _ in shown) == [5, 10, 20, 50, 100] and all(float(s) == v for s, v in shown)


def test_metric_vs_batch_draws_any_number_of_checkpoints_and_a_nan_key():
    """Twenty checkpoints in two BN modes are 40 lines (the styles once ran out at 16: KeyError), and rows whose
    epoch is NaN get a line of their own instead of vanishing in the groupby."""
    rows = [{"epoch": e, "bn_mode": m, "curvature": "hessian", "batch_size": b, "lambda_max": 1.0 + e}
            for e in range(20) for m in ("eval", "train") for b in (16, 64)]
    rows.append({"epoch": float("nan"), "bn_mode": "eval", "curvature": "hessian", "batch_size": 16, "lambda_max": 9})
    lines = figures.metric_vs_batch(pd.DataFrame(rows)).axes[0].get_lines()
    assert len(lines) == 41 and "curvature=hessian, epoch=n/a, bn_mode=eval" in [ln.get_label() for ln in lines]


def test_bn_modes_labels_only_powers_of_ten_over_many_decades():
    """Values over six decades: the 2s and 5s would crowd (10000 over 20000), so only powers of ten are labelled."""
    lam = pd.DataFrame([{"bn_mode": m, "scope": "batch", "batch_size": b, "lambda_max": v}
                        for m, vals in (("eval", (0.01, 1, 1e4)), ("train", (5, 9, 3.3)))
                        for b, v in zip((16, 128, 1024), vals)])
    ax = figures.bn_modes(lam).axes[0]
    assert not [t.get_text() for t in ax.get_yticklabels(minor=True) if t.get_text()]


def test_a_series_keeps_its_colour_across_one_reports_figures():
    """Within batch_size_spectra (curvatures, the batch Hessian of bn_modes, peer tools) and within lr_scaling
    (optimizers, schedules), no two series share a colour, and each keeps its colour whatever the group order:
    blue meant the Hessian in one figure and curvlinops in the next."""
    from matplotlib.colors import to_hex
    spectra = ["hessian", "ggn", "workbench", "pyhessian", "curvlinops"]
    lr = ["sgd", "adam", "SLQ learner", "constant (tuned lr 0.1)", "cosine (tuned lr 0.3)"]
    for names in (spectra, lr):
        assert len({figures.series_colour(n, k) for k, n in enumerate(names)}) == len(names)
    # names not listed (the explorer's seeds or epochs): distinct spares, none a listed name's colour
    spares = [str(figures.series_colour(f"seed {k}", k)) for k in range(8)]
    assert len(set(spares)) == 8 and not set(spares) & set(figures.SERIES_COLOURS.values())
    curves = pd.DataFrame({"method": ["cosine (tuned lr 0.3)", "SLQ learner"], "epoch": [1, 1], "wall_s": [1.0, 2.0],
                           "eval_acc": [0.9, 0.8]})
    lines = {ln.get_label(): to_hex(ln.get_color()) for ln in figures.learner_curves(curves).axes[0].get_lines()}
    assert lines == {"SLQ learner": to_hex("C2"), "cosine (tuned lr 0.3)": to_hex("#6a3d9a")}  # not C8's faint yellow
    lr_rows = pd.DataFrame({"optimizer": ["sgd", "sgd", "adam", "adam"], "batch_size": [8, 32, 8, 32],
                            "lr_max": [0.1, 0.3, 0.01, 0.02]})
    fit = pd.DataFrame({"optimizer": ["sgd"], "slope": [1.0], "slope_lo": [0.5], "slope_hi": [1.5], "intercept": [0.0]})
    dots = figures.lr_vs_batch(lr_rows, fit).axes[0].collections
    assert [to_hex(c.get_facecolor()[0]) for c in dots] == [to_hex("C1"), to_hex("C0")]  # adam, sgd (group order)
    matplotlib.pyplot.close("all")


def test_lr_vs_batch_guides_seeds_and_measured_ticks():
    """Seeds' points have a legend entry; each optimizer gets its predicted slope (sgd 1, adam 0.5) as a guide
    through its median lr at the smallest B (0.1 and 0.015 here); the x ticks are the measured sizes."""
    lr_rows = pd.DataFrame({"optimizer": ["sgd"] * 3 + ["adam"] * 3, "batch_size": [8, 8, 32] * 2,
                            "lr_max": [0.1, 0.1, 0.3, 0.01, 0.02, 0.02]})
    fit = pd.DataFrame({"optimizer": ["sgd"], "slope": [0.8], "slope_lo": [0.5], "slope_hi": [1.1], "intercept": [0.0]})
    ax = figures.lr_vs_batch(lr_rows, fit).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "sgd: each seed's bisected max lr" in labels and "adam: each seed's bisected max lr" in labels
    guides = {ln.get_label(): ln for ln in ax.get_lines() if "predicted slope" in ln.get_label()}
    sgd = guides["sgd: predicted slope 1 (guide through the median at B = 8)"]
    adam = guides["adam: predicted slope 0.5 (guide through the median at B = 8)"]
    np.testing.assert_allclose([sgd.get_ydata()[-1], adam.get_ydata()[-1]], [0.4, 0.03])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "32"]
    matplotlib.pyplot.close("all")


def test_learner_curves_say_the_tuning_runs_are_not_in_the_wall_clock():
    curves = pd.DataFrame({"method": ["constant (tuned lr 0.1)", "SLQ learner"], "epoch": [1, 1], "wall_s": [1.0, 2.0],
                           "eval_acc": [0.9, 0.8], "tuned_lr": [0.1, float("nan")]})
    legend = figures.learner_curves(curves).axes[1].get_legend()
    assert "excludes" in legend.get_title().get_text() and "lr-tuning" in legend.get_title().get_text()
    alone = figures.learner_curves(curves[curves.method == "SLQ learner"]).axes[1].get_legend()
    assert not alone.get_title().get_text()
    matplotlib.pyplot.close("all")
