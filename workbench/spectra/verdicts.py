"""Verdicts: what a run's tables say about the paper's predictions, for the spectra notebooks to print (the
prose states the prediction; these say whether this run bears it out). Pure table math on pandas frames."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd


PREDICTED_SLOPE = {"sgd": 1.0, "adam": 0.5}  # the paper's lr ~ B^slope below the critical batch size; above it: 0


def batch_vs_full(lam, by=("curvature",)) -> pd.DataFrame:
    """Per group in ``by`` and B of a lambda_max table: ``n`` batches, their ``mean`` lambda_max, the full
    operator's value, ``ratio`` = mean / full and ``above`` (mean > full: the paper's batch > full claim)."""
    rows = []
    for key, d in lam.groupby(list(by)):
        tag = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        full = float(d[d.scope == "full"].lambda_max.mean())
        for b, g in d[d.scope == "batch"].groupby("batch_size"):
            m = float(g.lambda_max.mean())
            rows.append({**tag, "batch_size": int(b), "n": len(g), "mean": m, "full": full, "ratio": m / full,
                         "above": bool(m > full)})
    return pd.DataFrame(rows)


def claims_table(lam, smallest_b: int) -> pd.DataFrame:
    """Per (epoch, curvature): the mean batch lambda_max at ``smallest_b`` over the full value, and whether the
    mean batch lambda_max decreases monotonically with B (the paper's two qualitative claims)."""
    rows = []
    for (epoch, curv), d in batch_vs_full(lam, by=("epoch", "curvature")).groupby(["epoch", "curvature"]):
        d = d.set_index("batch_size")
        rows.append({"epoch": epoch, "curvature": curv, "ratio_smallest_b_to_full": d.at[smallest_b, "ratio"],
                     "above_full_at_smallest_b": bool(d.at[smallest_b, "above"]),
                     "decreasing_in_b": bool((d["mean"].diff().dropna() < 0).all())})
    return pd.DataFrame(rows)


def fit_lines(fits) -> list[str]:
    """One sentence per row of :func:`fits.lambda_fits` (grouped by epoch and curvature): the fit's R² (of the
    per-B means, and of single batches), its chi² test (bootstrap p; the c/B form rejected at 5% when p < 0.05),
    the excess exponent alpha against the paper's 1, and the extrapolated ``a`` against the measured full value.
    A fit of one batch per B has no error bars: no test and no alpha, and says so; its ``a`` still has a standard
    error from the residuals (none when they are all 0: the gap is then given relative to lambda_full)."""
    out = []
    for f in fits.itertuples():
        where = ", ".join(f"{k} {getattr(f, k)}" if k == "epoch" else str(getattr(f, k))
                          for k in ("epoch", "curvature") if hasattr(f, k))
        parts = [f"R² {f.r2:.2f} (single batches {f.r2_points:.2f})"]
        if math.isfinite(f.p_value):
            parts.append(f"chi2 {f.chi2:.1f} on {f.dof} dof (bootstrap p {f.p_value:.2g}"
                         + (", the c/B form is rejected at 5%)" if f.p_value < 0.05 else ")"))
        else:
            parts.append("no chi2 test (one batch per B gives no error bars: batches_per_size >= 2 does)")
        if not (math.isfinite(f.alpha_lo) and math.isfinite(f.alpha_hi)):
            parts.append("alpha not fitted (it needs error bars and the full value)")
        elif f.alpha_hi - f.alpha_lo > 2:
            parts.append(f"alpha {f.alpha:.2f} [{f.alpha_lo:.2f}, {f.alpha_hi:.2f}] (undetermined: the interval is "
                         "wider than 2, so containing 1 says nothing)")
        else:
            parts.append(f"alpha {f.alpha:.2f} [{f.alpha_lo:.2f}, {f.alpha_hi:.2f}] "
                         f"({'contains' if f.alpha_lo <= 1 <= f.alpha_hi else 'excludes'} 1)")
        if math.isfinite(f.a_vs_full_se):
            parts.append(f"a - lambda_full = {f.a_vs_full_se:+.1f} se"
                         + (" (the extrapolated a misses the measured full value)" if abs(f.a_vs_full_se) > 2 else ""))
        elif math.isfinite(f.a_vs_full_rel):
            parts.append(f"a - lambda_full = {f.a_vs_full_rel:+.1%} of lambda_full (no standard error)")
        out.append(f"{where}: " + ", ".join(parts))
    return out


def above_tolerance(lam, tol: float, adaptive: bool = True) -> pd.DataFrame:
    """The rows of a lambda_max table whose Lanczos ``error_estimate`` (relative, of lambda_max) exceeds ``tol``,
    with ``run``: "adaptive" (a run that stopped at its step cap before reaching ``tol``: the batches after a B's
    first, when the study ran adaptive Lanczos) or "slq" (fixed-step probes: a B's first batch, the full
    operator, and every run when ``adaptive`` is False, i.e. ``lambda_tol`` 0)."""
    out = lam[lam.error_estimate > tol].copy()
    out["run"] = ["adaptive" if i > 0 and adaptive else "slq" for i in out.batch_index]
    return out


def outlier_verdicts(outliers) -> pd.DataFrame:
    """Per (epoch, curvature) of an outlier table (``experiments.outlier_table``): outlier count and bulk edge at
    the smallest B and at the full operator (the largest B), whether the outlier count never rises with B and
    whether the bulk edge falls at every step in B (what the paper's spreading of the spectrum at small B
    predicts)."""
    rows = []
    for (epoch, curv), d in outliers.groupby(["epoch", "curvature"]):
        d = d.sort_values("batch_size")
        lo, full = d.iloc[0], d.iloc[-1]
        rows.append({"epoch": epoch, "curvature": curv, "smallest_b": int(lo.batch_size),
                     "outliers_smallest_b": lo.outliers, "outliers_full": full.outliers,
                     "bulk_edge_smallest_b": lo.bulk_edge, "bulk_edge_full": full.bulk_edge,
                     "outliers_decreasing_in_b": bool((d.outliers.diff().dropna() <= 0).all()),
                     "bulk_edge_decreasing_in_b": bool((d.bulk_edge.diff().dropna() < 0).all())})
    return pd.DataFrame(rows)


def slope_verdicts(slopes, curvature_critical: float = float("nan"), predicted=None) -> pd.DataFrame:
    """Each row of :func:`fits.slope_fits` with the ``predicted`` slope (:data:`PREDICTED_SLOPE` below the critical
    batch size, 0 above it), whether its CI ``contains`` it, and where the fitted range lies against the
    curvature's critical batch size (:func:`fits.critical_batch`): ``curvature_regime`` "below" (every fitted B at
    most it), "above" (every fitted B at least it), "spans" or "unknown" (NaN)."""
    predicted = PREDICTED_SLOPE if predicted is None else predicted
    out = slopes.copy()
    out["predicted"] = [0.0 if r == "above" else predicted.get(o, float("nan"))
                        for o, r in zip(out.optimizer, out.regime)]
    out["contains"] = (out.slope_lo <= out.predicted) & (out.predicted <= out.slope_hi)
    bc = curvature_critical
    out["curvature_regime"] = ["unknown" if not bc == bc else "below" if hi <= bc else "above" if lo >= bc
                               else "spans" for lo, hi in zip(out.min_batch, out.max_batch)]
    return out


def learner_verdicts(curves, tune_lrs) -> pd.DataFrame:
    """Per method of the learner comparison (rows: method, epoch, eval_acc, wall_s, tuned_lr; NaN for the
    learner; train_loss where recorded): the final and the best test accuracy, the wall-clock, the wall-clock as a
    multiple of the SLQ learner's, the tuned lr and ``at_grid_edge``: it is the smallest or largest of
    ``tune_lrs``, so the best lr may lie outside the grid; ``unstable``: the training loss went non-finite or
    ended above twice its lowest (a blow-up the final accuracy alone may hide); and ``overshoot_epoch``: the first
    epoch whose mean training loss rose more than 5% above ``start_loss`` (the init's, where the rows carry it),
    an overshoot the run may have recovered from, else NaN."""
    curves = curves.sort_values("epoch")
    last = curves.groupby("method", sort=False).last()
    ref = float(last.wall_s.get("SLQ learner", float("nan")))
    grid = sorted(tune_lrs)
    rows = []
    for method, r in last.iterrows():
        lr = float(r.get("tuned_lr", float("nan")))   # rows of a run resumed from before the column: unknown
        edge = lr == lr and len(grid) > 1 and (math.isclose(lr, grid[0]) or math.isclose(lr, grid[-1]))
        g = curves[curves.method == method]
        loss = g["train_loss"] if "train_loss" in g else pd.Series(dtype=float)
        finite = np.isfinite(loss.to_numpy(dtype=float))
        start = float(g["start_loss"].iloc[0]) if "start_loss" in g else float("nan")
        # curves are sorted by epoch: the first row above 1.05 x start is the overshoot
        over = g[loss > 1.05 * start] if start == start and len(loss) else g.iloc[:0]
        unstable = bool(len(loss) and (not finite.all() or loss.iloc[-1] > 2 * loss.min()))
        rows.append({"method": method, "final_eval_acc": float(r.eval_acc), "best_eval_acc": float(g.eval_acc.max()),
                     "wall_s": float(r.wall_s), "wall_vs_learner": float(r.wall_s) / ref, "tuned_lr": lr,
                     "at_grid_edge": edge, "unstable": unstable,
                     "start_loss": start,
                     "overshoot_epoch": float(over["epoch"].iloc[0]) if len(over) else float("nan"),
                     "overshoot_loss": float(over["train_loss"].iloc[0]) if len(over) else float("nan")})
    return pd.DataFrame(rows)


def peer_verdict(summary, tol: float, target: float = 0.5) -> list[str]:
    """What a :func:`peers.summary` table says, one sentence each: each adaptive Lanczos row (tolerance ``tol``;
    one per error estimate, the residual bound first) against PyHessian's power iteration at its default
    tolerance (time ratio against ``target``) and against the fastest PyHessian row within ``tol`` (equal
    accuracy: the reading of "tol in <= target x PyHessian's time"; undetermined when none is); one line per
    PyHessian power-iteration row (matvecs, worst error, ms per matvec); our own power iteration at its tolerance,
    where the table has it, to separate implementation from algorithm; and the first adaptive row against our
    fixed-step rows (those at least as fast and as accurate, those faster, the fastest that met ``tol`` at every
    seed). Empty when the table has no adaptive row."""
    ours = summary[summary.tool == "workbench"]
    ad = ours[ours.method.str.startswith("lanczos tol")]
    if not len(ad):
        return []
    a = ad.iloc[0]
    fixed = ours[ours.method.str.fullmatch(r"lanczos \d+ steps")]
    pyh = summary[(summary.tool == "pyhessian") & summary.method.str.startswith("power iteration")]
    our_power = ours[ours.method.str.startswith("power iteration")]
    lines = []
    for r in ad.itertuples():
        line = (f"{r.method}: stopped after a median {r.matvecs:.0f} matvecs, worst relative error "
                f"{r.rel_error_max:.1e} over {r.seeds} seeds (target {tol:g}: "
                f"{'met' if r.rel_error_max <= tol else 'missed'})")
        if len(pyh):
            line += (f", {r.x_pyhessian:.2f}x PyHessian's median time (target <= {target:g}: "
                     f"{'met' if r.x_pyhessian <= target else 'not met'}) at {r.ms_per_matvec:.3g} ms per matvec, "
                     f"against its {pyh.iloc[0].method.removeprefix('power iteration ')} (worst error "
                     f"{pyh.iloc[0].rel_error_max:.1e})")
            within = pyh[pyh.rel_error_max <= tol].sort_values("seconds")
            if len(within):
                m = within.iloc[0]
                x = r.seconds / m.seconds
                line += (f"; at equal accuracy {x:.2f}x PyHessian at {m.method.removeprefix('power iteration ')}, "
                         f"its fastest row within {tol:g} ({m.matvecs:.0f} matvecs; target <= {target:g}: "
                         f"{'met' if x <= target else 'not met'})")
            else:
                line += f"; no PyHessian row reached {tol:g}: the equal-accuracy reading is undetermined"
        lines.append(line)
    for p in pyh.itertuples():
        lines.append(f"PyHessian's {p.method}: a median {p.matvecs:.0f} matvecs, worst relative error "
                     f"{p.rel_error_max:.1e}, {p.ms_per_matvec:.3g} ms per matvec (set-up included)")
    if len(pyh) and len(our_power):  # same algorithm and tolerance on our HVP: what PyHessian's implementation costs
        o = our_power.iloc[0]
        against = ", ".join(f"{r.method} takes {r.x_pyhessian / o.x_pyhessian:.2f}x its time" for r in ad.itertuples())
        lines.append(f"the same power iteration on our HVP: a median {o.matvecs:.0f} matvecs, worst relative "
                     f"error {o.rel_error_max:.1e}, {o.x_pyhessian:.2f}x PyHessian's median time at "
                     f"{o.ms_per_matvec:.3g} ms per matvec (what the implementation alone changes); against it, "
                     f"{against} (below 1: what the algorithm gains beyond that)")
    both = fixed[(fixed.seconds <= a.seconds) & (fixed.rel_error_max <= a.rel_error_max)]
    faster = fixed[(fixed.seconds < a.seconds) & ~fixed.index.isin(both.index)]
    met = fixed[fixed.rel_error_max <= tol].sort_values("seconds")
    lines.append(f"fixed-step Lanczos at least as fast and as accurate (worst case) as {a.method}: "
                 + (", ".join(f"{r.method} ({r.seconds * 1e3:.1f} ms, {r.rel_error_max:.1e})"
                              for r in both.itertuples()) or "none"))
    if len(faster):
        lines.append("faster but less accurate: " + ", ".join(f"{r.method} ({r.seconds * 1e3:.1f} ms, worst "
                                                              f"{r.rel_error_max:.1e})" for r in faster.itertuples()))
    lines.append(f"the fastest fixed-step run within {tol:g} at every seed: " + (
        f"{met.iloc[0].method} ({met.iloc[0].seconds * 1e3:.1f} ms against {a.method}'s "
        f"{a.seconds * 1e3:.1f} ms)" if len(met) else "none"))
    return lines
