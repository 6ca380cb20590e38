"""Figures of the spectra studies: each takes tidy tables and returns a matplotlib Figure with a title."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .density import grid_for, slq_density


def lambda_vs_batch(lam: pd.DataFrame, fits: pd.DataFrame, residuals: pd.DataFrame | None = None,
                    title: str = "Top eigenvalue vs batch size"):
    """lambda_max of batch operators against B, one colour per curvature: each batch (faint points), the mean
    per B with its standard error (bars), the full operator's value (dotted) and the weighted fit
    a + c (1/B - 1/N) (dashed). With ``residuals`` (from :func:`fits.lambda_fits`) a lower panel shows
    (mean - fit) / se per B: within about +-2 when the form fits. ``fits``: curvature, a, c, r2, chi2, dof."""
    if residuals is None:
        fig, ax = plt.subplots()
    else:
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(6.4, 6.4), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for k, (curv, d) in enumerate(lam.groupby("curvature")):
        color = f"C{k}"
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
    """SLQ densities (Gaussian width ``sigma_frac`` of the spectral range) for every B, log density axis."""
    d = ritz[ritz.curvature == curvature]
    groups = [(b, g) for b, g in d.groupby("batch_size")]
    all_r = [g.ritz.to_numpy() for _, g in groups]
    grid = grid_for(all_r, n=600)
    sigma = sigma_frac * (grid[-1] - grid[0])
    fig, ax = plt.subplots()
    for k, (b, g) in enumerate(groups):
        probes = [p for _, p in g.groupby("probe")]
        dens = slq_density([p.ritz.to_numpy() for p in probes], [p.weight.to_numpy() for p in probes], grid, sigma)
        label = f"full ({b})" if (g.scope == "full").all() else f"B = {b}"
        ax.plot(grid, np.maximum(dens, 1e-8), color=f"C{k}", label=label, lw=2 if "full" in label else 1)
    ax.set(yscale="log", ylim=(1e-5, None), xlabel="eigenvalue (loss / param²)", ylabel="spectral density",
           title=title or f"SLQ spectral density of the batch {curvature}")
    ax.legend(fontsize=8)
    return fig


def bn_modes(lam: pd.DataFrame, title: str = "BatchNorm eval vs train mode: λ_max of the Hessian"):
    """Two panels: lambda_max vs B with BN in eval mode (running stats) and in train mode (batch stats); the mean
    over the batches of each B with its standard error when there are several, the single value otherwise."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=False)
    for ax, mode in zip(axes, ["eval", "train"]):
        d = lam[lam.bn_mode == mode]
        batch = d[d.scope == "batch"].groupby("batch_size").lambda_max.agg(["mean", "std", "count"])
        n = int(batch["count"].min()) if len(batch) else 0
        se = (batch["std"] / np.sqrt(batch["count"])).fillna(0.0)
        ax.errorbar(batch.index, batch["mean"], yerr=se if n > 1 else None, fmt="o-",
                    label=f"batch Hessian, mean ± se of {n} batches" if n > 1 else "batch Hessian, one batch per B")
        full = d[d.scope == "full"].lambda_max
        if len(full):
            ax.axhline(full.mean(), ls=":", color="k", label="full (chunk-averaged in train mode)")
        ax.set(xscale="log", xlabel="batch size B (examples)", ylabel="λ_max (loss / param²)",
               title=f"BN {mode} mode")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def lr_vs_batch(lr: pd.DataFrame, fits: pd.DataFrame, lam: pd.DataFrame | None = None, momentum: float = 0.9,
                title: str = "Largest stable learning rate vs batch size"):
    """Log-log: bisected max lr per seed (points), the fitted power laws per optimizer over their batch ranges
    (solid below the critical batch size, dash-dot above; slope with 95% CI), and the curvature predictions
    2/λ_max(B) and 2(1+μ)/λ_max(B) (heavy-ball bound) from the measured batch Hessian."""
    fig, ax = plt.subplots()
    for k, (opt, d) in enumerate(lr.groupby("optimizer")):
        ax.scatter(d.batch_size, d.lr_max, color=f"C{k}", alpha=0.6, s=16)
        for _, r in fits[fits.optimizer == opt].iterrows():
            above = r.get("regime") == "above"
            lo = r.get("min_batch", d.batch_size.min())
            hi = r.get("max_batch", d.batch_size.max())
            hi = d.batch_size.max() if hi is None or not np.isfinite(hi) else hi
            b = np.geomspace(lo, hi, 50)
            ax.plot(b, np.exp(r.intercept) * b ** r.slope, "-." if above else "-", color=f"C{k}",
                    label=f"{opt}{', B ≥ %g' % lo if above else ''}: slope {r.slope:.2f} "
                          f"[{r.slope_lo:.2f}, {r.slope_hi:.2f}]")
    if lam is not None and len(lam):
        m = lam[lam.scope == "batch"].groupby("batch_size").lambda_max.mean()
        ax.plot(m.index, 2 / m.values, "k--", label="2 / λ_max(B)")
        ax.plot(m.index, 2 * (1 + momentum) / m.values, "k:", label=f"2(1+μ) / λ_max(B), μ={momentum:g}")
    ax.set(xscale="log", yscale="log", xlabel="batch size B (examples)", ylabel="max stable learning rate",
           title=title)
    ax.legend(fontsize=8)
    return fig


def learner_curves(curves: pd.DataFrame, title: str = "SLQ learner vs tuned schedules (test accuracy)"):
    """Test accuracy against epochs and against training wall-clock (estimates included) per method."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    for k, (method, d) in enumerate(curves.groupby("method")):
        axes[0].plot(d.epoch, d.eval_acc, "o-", color=f"C{k}", label=method)
        axes[1].plot(d.wall_s, d.eval_acc, "o-", color=f"C{k}", label=method)
    axes[0].set(xlabel="epoch", ylabel="test accuracy (fraction)", title="per epoch")
    axes[1].set(xlabel="training wall-clock (s)", title="per second")
    axes[1].legend(fontsize=8)
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
            ax.scatter(runs.seconds, np.maximum(runs.rel_error, 1e-16), color=f"C{k}", marker=mk, s=12, alpha=0.3)
            ax.scatter(r.seconds, max(r.rel_error, 1e-16), color=f"C{k}", marker=mk, s=48, edgecolor="k",
                       linewidth=0.5, label=f"{tool}: {method}")
    ax.set(xscale="log", yscale="log", xlabel="time (s, median; faint: each seed)",
           ylabel="|λ - λ_ref| / λ_ref", title=title)
    ax.margins(x=0.15, y=0.15)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def metric_vs_batch(df: pd.DataFrame, metric: str = "lambda_max", hue: str = "curvature"):
    """For the explorer: ``metric`` against batch size, one line per value of ``hue``."""
    fig, ax = plt.subplots()
    for k, (h, d) in enumerate(df.groupby(hue)):
        m = d.groupby("batch_size")[metric].mean()
        ax.plot(m.index, m.values, "o-", color=f"C{k}", label=f"{hue}={h}")
    # run_s and seconds are single runs (one operator build and Lanczos, one bisection), not benchmark medians
    unit = {"lambda_max": "loss / param²", "run_s": "s, one operator + Lanczos run", "seconds": "s per bisection",
            "lr_max": "max stable learning rate"}.get(metric)
    ax.set(xscale="log", xlabel="batch size B (examples)", ylabel=f"{metric} ({unit})" if unit else metric,
           title=f"{metric} vs batch size by {hue}")
    ax.legend(fontsize=8)
    return fig
