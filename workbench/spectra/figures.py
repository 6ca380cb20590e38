"""Figures of the spectra studies: each takes tidy tables and returns a matplotlib Figure with a title."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from ..report import log_y_if_wide
from .density import grid_for, slq_density
from .verdicts import PREDICTED_SLOPE


# one colour per series name in every figure of a study's report (the figures coloured by their own group order,
# so blue meant the Hessian in one figure and curvlinops in the next): curvatures and tools (batch_size_spectra),
# optimizers and schedules (lr_scaling); cosine dark purple, not the palette's yellow (C8), faint on white
SERIES_COLOURS = {"hessian": "C0", "ggn": "C1", "workbench": "C2", "pyhessian": "C3", "curvlinops": "C4",
                  "sgd": "C0", "adam": "C1", "SLQ learner": "C2", "constant": "C7", "cosine": "#6a3d9a"}
# for names not listed (seeds, epochs in the explorer): the colours no listed name uses, then tab20's lighter shades
_SPARE = ("C5", "C6", "C9", *[plt.get_cmap("tab20")(i) for i in range(1, 20, 2)])


def series_colour(name, k: int) -> str:
    """The colour of series ``name`` (its :data:`SERIES_COLOURS` entry, or that of its first word: "cosine (tuned
    lr 0.3)" is cosine's); the ``k``-th spare colour for a name not listed."""
    text = str(name)
    return SERIES_COLOURS.get(text) or SERIES_COLOURS.get(text.split(" ")[0]) or _SPARE[k % len(_SPARE)]


def lambda_vs_batch(lam: pd.DataFrame, fits: pd.DataFrame, residuals: pd.DataFrame | None = None,
                    title: str = "Top eigenvalue vs batch size"):
    """lambda_max of batch operators against B, one colour per curvature: each batch (faint points), the mean
    per B with its standard error (bars), the full operator's value (dotted) and the weighted fit
    a + c (1/B - 1/N) (dashed). With ``residuals`` (from :func:`fits.lambda_fits`) a lower panel shows
    (mean - fit) / se per B: within about +-2 when the form fits. ``fits``: curvature, a, c, r2, chi2, dof.
    The y axis is logarithmic when the values span more than a factor 20."""
    if residuals is None:
        fig, ax = plt.subplots()
    else:
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(6.4, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for k, (curv, d) in enumerate(lam.groupby("curvature")):
        color = series_colour(curv, k)
        batch = d[d.scope == "batch"]
        ax.scatter(batch.batch_size, batch.lambda_max, color=color, alpha=0.25, s=10)
        m = batch.groupby("batch_size").lambda_max.agg(["mean", "std", "count"])
        ax.errorbar(m.index, m["mean"], yerr=m["std"] / np.sqrt(m["count"]), fmt="o", color=color, capsize=3,
                    label=f"{curv}: batch B, mean ± se")
        full = d[d.scope == "full"]
        if len(full):
            ax.axhline(full.lambda_max.mean(), color=color, ls=":",
                       label=f"{curv}: full ({int(full.batch_size.iloc[0])} ex.)")
        f = fits[fits.curvature == curv]
        if len(f):
            b = np.geomspace(batch.batch_size.min(), batch.batch_size.max(), 100)
            r = f.iloc[0]
            inv_n = 1.0 / r.n_total if "n_total" in f and r.n_total == r.n_total and r.n_total else 0.0
            gof = f", χ²/dof={r.chi2:.1f}/{int(r.dof)}" if "chi2" in f and r.chi2 == r.chi2 else ""
            ax.plot(b, r.a + r.c * (1 / b - inv_n), "--", color=color,
                    label=f"{curv}: {r.a:.3g} + {r.c:.3g}(1/B-1/N) (R²={r.r2:.2f}{gof})")
        if residuals is not None:
            rr = residuals[residuals.curvature == curv]
            rax.plot(rr.batch_size, rr.z, "o-", color=color)
    ax.set(xscale="log", ylabel="λ_max (loss / param²)", title=title)
    log_y_if_wide(ax, lam.lambda_max)
    ax.legend(fontsize=7)
    if residuals is None:
        ax.set_xlabel("batch size B (examples)")
    else:
        rax.axhline(0, color="k", lw=0.8)
        for z in (-2, 2):
            rax.axhline(z, color="k", lw=0.5, ls=":")
        rax.set(xscale="log", xlabel="batch size B (examples)", ylabel="(mean - fit) / se")
    return fig


def densities(ritz: pd.DataFrame, curvature: str = "hessian", sigma_frac: float = 0.01, title: str | None = None):
    """SLQ densities for every B (viridis, small to large B) over the full operator's (black, drawn first).
    Gaussian width ``sigma_frac`` of the full operator's spectral range (of the largest B's without one), so
    batches are not blurred by their own outliers; the eigenvalue axis is asinh, linear over the inner half of the
    full operator's spectrum and logarithmic beyond; the log density axis reaches down to the peak of the smallest
    Ritz weight (at most 10 decades below the top), so that single outlier nodes show."""
    d = ritz[ritz.curvature == curvature]
    groups = [(b, g) for b, g in d.groupby("batch_size")]
    full = [(b, g) for b, g in groups if (g.scope == "full").all()]
    batches = [(b, g) for b, g in groups if not (g.scope == "full").all()]
    ref = (full or groups[-1:])[0][1].ritz.to_numpy()
    sigma = sigma_frac * max(float(np.ptp(ref)), 1e-12)
    nodes = d.ritz.to_numpy()
    # coarse grid over every Ritz value, refined within 4 sigma of each, so that narrow outlier peaks are drawn
    near = (nodes[:, None] + sigma * np.linspace(-4, 4, 41)).ravel()
    grid = np.unique(np.concatenate([grid_for([nodes], n=600), near]))
    fig, ax = plt.subplots(figsize=(7.6, 4.2))
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(batches), 1)))
    peaks, tops = [], []
    for k, (b, g) in enumerate(full + batches):
        probes = [p for _, p in g.groupby("probe")]
        dens = slq_density([p.ritz.to_numpy() for p in probes], [p.weight.to_numpy() for p in probes], grid, sigma)
        peaks.append(g.weight.min() / (len(probes) * sigma * np.sqrt(2 * np.pi)))  # one Ritz node's peak
        tops.append(dens.max())
        is_full = k < len(full)
        ax.plot(grid, dens, color="k" if is_full else colours[k - len(full)], lw=2.5 if is_full else 1.2,
                zorder=1 if is_full else 2, label=f"full operator ({b} ex.)" if is_full else f"B = {b}")
    lin = max(float(np.abs(ref).max()), 1e-12)
    ax.set_xscale("asinh", linear_width=lin / 2)  # linear within about lin / 2, logarithmic well beyond
    lo, hi = (x + sgn * max(0.05 * lin, 0.1 * abs(x)) for x, sgn in ((nodes.min(), -1), (nodes.max(), 1)))
    # ticks: linear ones within the full operator's range, then decades (the asinh default crowds them near 0)
    ticks = [t for t in MaxNLocator(7).tick_values(max(lo, -lin), min(hi, lin)) if abs(t) <= lin]
    wide = max(abs(lo), abs(hi)) > 20 * lin  # past a decade beyond the linear part, 1-2-5 steps; else finer ones
    ticks += [sgn * m * 10.0 ** k for k in range(-3, 6) for m in ((1, 2, 5) if wide else (1, 1.5, 2, 3, 5, 7))
              for sgn in (-1, 1) if m * 10.0 ** k >= 1.25 * lin]
    # and the extreme Ritz values to 2 digits (within the 10% margin): the 1-2-3-5 steps stopped short of the
    # outlier peaks (a top tick at 3 with peaks out to 4.8)
    ticks += [float(f"{x:.2g}") for x in (nodes.min(), nodes.max()) if abs(x) > 0.05 * lin]
    ticks = _spaced([t for t in ticks if lo <= t <= hi], lambda x: np.arcsinh(x / (lin / 2)), lo, hi)
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlim(lo, hi)
    ax.set(yscale="log", ylim=(max(0.5 * min(peaks), 1e-10 * max(tops)), 3 * max(tops)),
           xlabel=f"eigenvalue (loss / param²; asinh axis: linear near 0, logarithmic beyond about ±{lin / 2:.3g})",
           ylabel="spectral density (per unit eigenvalue)",
           title=title or f"SLQ spectral density of the batch {curvature}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), title=f"Gaussian width σ = {sigma:.2g}",
              title_fontsize=8)
    return fig


def _spaced(ticks: list[float], transform, lo: float, hi: float, gap: float = 0.06) -> list[float]:
    """``ticks`` from 0 outwards, each kept only at least ``gap`` of the axis span (in ``transform``'s coordinates)
    from those kept before it, so labels where the asinh axis bends from linear to logarithmic do not collide."""
    min_gap = gap * (transform(hi) - transform(lo))
    kept: list[float] = []
    for t in sorted(ticks, key=abs):
        if all(abs(transform(t) - transform(k)) >= min_gap for k in kept):
            kept.append(t)
    return sorted(kept)


def _mantissa(v: float) -> int:
    return round(v / 10 ** np.floor(np.log10(v))) if v > 0 else 0


def _plain(v: float, _pos=None) -> str:
    return f"{v:g}"


def bn_modes(lam: pd.DataFrame, title: str = "BatchNorm eval vs train mode: λ_max of the Hessian"):
    """Two panels: lambda_max vs B with BN in eval mode (running stats) and in train mode (batch stats); the mean
    over the batches of each B with its standard error when there are several, the single value otherwise, and the
    full Hessian in the same mode (dotted). The panels share one y axis (the modes are compared), logarithmic when
    the values of both span a factor > 20; both panels label it in plain numbers, at 1, 2 and 5 per decade up to two
    decades of values (within one decade they would otherwise sit between labelled ticks; every minor tick labelled
    crowds), at the powers of ten beyond."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4), sharey=True)
    for ax, mode in zip(axes, ["eval", "train"]):
        d = lam[lam.bn_mode == mode]
        batch = d[d.scope == "batch"].groupby("batch_size").lambda_max.agg(["mean", "std", "count"])
        n = int(batch["count"].min()) if len(batch) else 0
        se = (batch["std"] / np.sqrt(batch["count"])).fillna(0.0)
        ax.errorbar(batch.index, batch["mean"], yerr=se if n > 1 else None, fmt="o-", color=series_colour("hessian", 0),
                    label=f"batch Hessian, mean ± se of {n} batches" if n > 1 else "batch Hessian, one batch per B")
        full = d[d.scope == "full"].lambda_max
        if len(full):
            ax.axhline(full.mean(), ls=":", color="k", label="full (chunk-averaged, batch statistics)"
                       if mode == "train" else "full (running statistics)")
        ax.set(xscale="log", xlabel="batch size B (examples)", ylabel="λ_max (loss / param²)",
               title=f"BN {mode} mode")
        log_y_if_wide(ax, lam.lambda_max)
        if ax.get_yscale() == "log":
            ax.yaxis.set_major_formatter(FuncFormatter(_plain))
            lo, hi = lam.lambda_max[lam.lambda_max > 0].agg(["min", "max"])
            if hi / lo <= 100:  # within two decades the 2s and 5s label the values between the powers of ten
                ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: _plain(v) if _mantissa(v) in (2, 5) else ""))
        ax.tick_params(axis="y", which="both", labelleft=True)  # sharey hides the right panel's labels
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), frameon=False)  # below: no data hidden
    fig.suptitle(title)
    return fig


def lr_vs_batch(lr: pd.DataFrame, fits: pd.DataFrame, lam: pd.DataFrame | None = None, momentum: float = 0.9,
                title: str = "Largest stable learning rate vs batch size"):
    """Log-log: bisected max lr per seed (points), the fitted power laws per optimizer over their batch ranges
    (solid below the critical batch size, dash-dot above; each label gives its B range, slope and 95% CI), and the
    quadratic-model stability bounds 2/λ_max(B) (plain GD) and 2(1+μ)/λ_max(B) (SGD with heavy-ball momentum μ),
    λ_max(B) being the mean over ``lam``'s batches of the batch Hessian's top eigenvalue (at initialisation in
    the notebook)."""
    fig, ax = plt.subplots(figsize=(7.0, 6.0))
    for k, (opt, d) in enumerate(lr.groupby("optimizer")):
        ax.scatter(d.batch_size, d.lr_max, color=series_colour(opt, k), alpha=0.6, s=16,
                   label=f"{opt}: each seed's bisected max lr")
        for _, r in fits[(fits.optimizer == opt) & fits.slope.notna()].iterrows():  # NaN: too few points to fit
            above = r.get("regime") == "above"
            lo = r.get("min_batch", d.batch_size.min())
            hi = r.get("max_batch", d.batch_size.max())
            hi = d.batch_size.max() if hi is None or not np.isfinite(hi) else hi
            b = np.geomspace(lo, hi, 50)
            ax.plot(b, np.exp(r.intercept) * b ** r.slope, "-." if above else "-", color=series_colour(opt, k),
                    label=f"{opt}, B = {lo:g}–{hi:g}: slope {r.slope:.2f} [{r.slope_lo:.2f}, {r.slope_hi:.2f}]")
        _slope_guide(ax, d, opt, series_colour(opt, k))
    if lam is not None and len(lam):
        batch = lam[lam.scope == "batch"]
        m = batch.groupby("batch_size").lambda_max.agg(["mean", "count"])
        epochs = sorted(set(batch.epoch)) if "epoch" in batch else []
        when = "" if len(epochs) != 1 else " at init" if epochs[0] == 0 else f" at epoch {epochs[0]}"
        src = f"batch Hessian{when}, mean of {int(m['count'].min())} batches"
        ax.plot(m.index, 2 / m["mean"].values, "k--", label=f"2/λ_max(B), {src} (GD bound, no momentum)")
        ax.plot(m.index, 2 * (1 + momentum) / m["mean"].values, "k:",
                label=f"2(1+μ)/λ_max(B), μ={momentum:g}, same λ_max (SGD heavy-ball bound)")
    ax.set(xscale="log", yscale="log", xlabel="batch size B (examples)", ylabel="max stable learning rate",
           title=title)
    sizes = sorted(lr.batch_size.unique())  # a few sizes: ticks at the measured ones, plain numbers
    ax.set_xticks(sizes, [f"{b:g}" for b in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(_plain))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
    return fig


def _slope_guide(ax, d: pd.DataFrame, opt: str, colour) -> None:
    """The paper's predicted slope for ``opt`` (:data:`PREDICTED_SLOPE`) as a faint guide through the median lr at
    the smallest batch size, over the measured sizes: the fitted line is read against it."""
    slope = PREDICTED_SLOPE.get(opt)
    ok = d.dropna(subset=["lr_max"])
    if slope is None or not len(ok):
        return
    b0 = ok.batch_size.min()
    anchor = ok.loc[ok.batch_size == b0, "lr_max"].median()
    b = np.geomspace(b0, ok.batch_size.max(), 50)
    ax.plot(b, anchor * (b / b0) ** slope, color=colour, lw=1, ls=(0, (1, 3)), alpha=0.9,
            label=f"{opt}: predicted slope {slope:g} (guide through the median at B = {b0:g})")


def learner_curves(curves: pd.DataFrame, title: str = "SLQ learner vs tuned schedules (test accuracy)"):
    """Test accuracy against epochs and against training wall-clock (estimates included) per method. A tuned
    schedule's wall-clock is its final training alone: the lr-tuning trainings before it (one per tried lr, on the
    validation split) are not in it, and the per-second panel says so."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    for k, (method, d) in enumerate(curves.groupby("method")):
        style = {"marker": "osD^v"[k % 5], "color": series_colour(method, k), "label": method}
        axes[0].plot(d.epoch, d.eval_acc, "-", **style)
        axes[1].plot(d.wall_s, d.eval_acc, "-", **style)
    axes[0].set(xlabel="epoch", ylabel="test accuracy (fraction)", title="per epoch")
    axes[1].set(xlabel="training wall-clock (s, the learner's estimates included)", title="per second")
    tuned = curves["tuned_lr"].notna() if "tuned_lr" in curves else curves["method"].str.contains("tuned")
    note = ("wall-clock excludes the tuned schedules'\nlr-tuning trainings (one per tried lr)" if tuned.any()
            else None)
    axes[1].legend(fontsize=8, title=note, title_fontsize=7)
    fig.suptitle(title)
    return fig


def peers(table: pd.DataFrame, title: str = "Top-eigenvalue tools: time vs relative error"):
    """Each tool/method as a point at its median time and median relative error over seeds (to the long
    Lanczos reference), each seed's run as a faint point; times include each tool's set-up. Colour: the tool;
    marker: the method within it; a legend below the axes names each (labels beside the points overlapped)."""
    d = table.dropna(subset=["seconds", "rel_error"])
    markers = "osD^vPX*"
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    for k, (tool, g) in enumerate(d.groupby("tool")):
        med = g.groupby("method", sort=False)[["seconds", "rel_error"]].median()
        for j, (method, r) in enumerate(med.iterrows()):
            runs = g[g.method == method]
            mk = markers[j % len(markers)]
            ax.scatter(runs.seconds, np.maximum(runs.rel_error, 1e-16), color=series_colour(tool, k), marker=mk, s=12,
                       alpha=0.3)
            ax.scatter(r.seconds, max(r.rel_error, 1e-16), color=series_colour(tool, k), marker=mk, s=48, edgecolor="k",
                       linewidth=0.5, label=f"{tool}: {method}")
    ax.set(xscale="log", yscale="log", xlabel="time (s, median; faint: each seed)",
           ylabel="|λ - λ_ref| / λ_ref", title=title)
    ax.margins(x=0.15, y=0.15)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


SPLIT_BY = ("epoch", "curvature", "optimizer", "bn_mode")  # different models or operators: never pooled
# draws of the same thing, pooled as the study's tables pool them: lambda_max over a B's batches by the mean (the
# fit's per-B means), the bisected lr over seeds by the median (lr_scaling's table)
REPLICATES = {"batch_index": ("batches per B", "mean"), "seed": ("seeds", "median")}  # in pooling order


def metric_vs_batch(df: pd.DataFrame, metric: str = "lambda_max", hue: str = "curvature"):
    """For the explorer: ``metric`` against batch size, one colour per value of ``hue`` and a line style per value
    of any other :data:`SPLIT_BY` column that varies (four styles, in turn: checkpoints or operators are not
    averaged together, each has its own labelled line); each point pools the :data:`REPLICATES` (the median over
    seeds, the mean over a B's batches), as the title says."""
    fig, ax = plt.subplots()
    split = [c for c in SPLIT_BY if c != hue and c in df and df[c].nunique() > 1]
    df = df.assign(**{c: df[c].astype(object).where(df[c].notna(), "n/a").map(str) for c in split})  # NaN: a line too
    keys = sorted(df[split].drop_duplicates().itertuples(index=False, name=None)) if split else [()]
    styles = {v: ("-", "--", ":", "-.")[i % 4] for i, v in enumerate(keys)}
    varying = [c for c in REPLICATES if c != hue and c in df and df[c].nunique() > 1]
    pooled = [REPLICATES[c] for c in varying]
    for k, (h, d) in enumerate(df.groupby(hue)):
        for key, g in (d.groupby(split) if split else [((), d)]):
            key = key if isinstance(key, tuple) else (key,)
            if "batch_index" in varying:  # a B's batches by their mean first, per seed where seeds vary too
                g = g.groupby(["batch_size", *[c for c in varying if c == "seed"]])[metric].mean().reset_index()
            m = g.groupby("batch_size")[metric].median()  # then seeds by their median (one value left otherwise)
            extra = "".join(f", {c}={v}" for c, v in zip(split, key))
            ax.plot(m.index, m.values, marker="o", linestyle=styles[key], color=series_colour(h, k),
                    label=f"{hue}={h}{extra}")
    # run_s and seconds are single runs (one operator build and Lanczos, one bisection), not benchmark medians
    unit = {"lambda_max": "loss / param²", "run_s": "s, one operator + Lanczos run", "seconds": "s per bisection",
            "lr_max": "max stable learning rate"}.get(metric)
    ax.set(xscale="log", xlabel="batch size B (examples)", ylabel=f"{metric} ({unit})" if unit else metric,
           title=f"{metric} vs batch size by {hue}"
           + "".join(f"\n({how} over {what})" for what, how in pooled))
    ax.legend(fontsize=8)
    return fig
