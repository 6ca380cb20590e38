"""The studies' fits: lambda_max(B) = a + c (1/B - 1/N) (:func:`fit_inverse_batch`, its exponent
:func:`fit_excess_exponent`, the critical batch :func:`critical_batch`), and log-log slopes of the largest stable lr
with confidence intervals, one line or two with a break (:func:`fit_loglog`, :func:`fit_break`); the ``*_fits``
functions apply them to a study's tidy tables."""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import optimize, stats


def r_squared(y: np.ndarray, pred: np.ndarray, weights: np.ndarray | None = None) -> float:
    """``1 - SS_res / SS_tot``, both weighted by ``weights`` when given (about the weighted mean)."""
    w = np.ones_like(y, dtype=float) if weights is None else np.asarray(weights, dtype=float)
    ybar = float(np.sum(w * y) / np.sum(w))
    ss_res = float(np.sum(w * (y - pred) ** 2))
    ss_tot = float(np.sum(w * (y - ybar) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def fit_inverse_batch(batch_sizes, values, n_total: float | None = None, se=None, level: float = 0.95,
                      counts=None, bootstrap: int = 4000, seed: int = 0) -> dict:
    """Least squares ``value = a + c (1/B - 1/N)`` (the random-matrix prediction for the top batch eigenvalue;
    the ``-1/N`` finite-population term applies to batches drawn without replacement from N examples, and is
    dropped when ``n_total`` is None).

    With ``se`` (standard errors of the values, e.g. of per-B means) the fit is weighted by ``1/se^2`` and
    ``chi2`` / ``dof`` / ``p_value`` test whether the form fits within those errors (a small p: it does not).
    The ``level`` intervals ``a_lo..a_hi``, ``c_lo..c_hi`` (standard errors ``a_se``, ``c_se``) come from the
    weighted covariance, widened by ``sqrt(chi2/dof)`` when that exceeds 1 (the scatter is larger than the error
    bars say); without ``se`` they come from the residual scatter (ordinary least squares). Where the residuals
    set the scale (those two cases), the quantile is Student's t with ``dof`` degrees of freedom, else the
    normal's. ``r2`` is weighted like the fit. Needs at least 3 distinct B.

    ``counts`` (with ``se``): each value is a mean of ``counts[i]`` >= 2 samples and its ``se`` their sample
    standard error, itself an estimate with ``counts[i] - 1`` degrees of freedom. Then chi2 does not follow the
    chi2 distribution (with 4 batches per B a true c/B form was rejected at 5% in 28% of simulated fits, with 2 in
    55%) and the covariance understates the spread, so ``p_value`` and the intervals come from a parametric
    bootstrap of the fitted form instead (:func:`_bootstrap_inverse_batch`, ``bootstrap`` refits, ``seed``): the
    share of refits whose chi2 reaches the observed one, and bootstrap-t intervals of a and c (the refits'
    ``(estimate - fitted) / its covariance standard error`` quantiles, scaled by the fit's own); ``a_se``, ``c_se``
    are the refits' spread, and ``bootstrap`` in the row says how many refits. Simulated with the true form and 2,
    4, 8 or 16 samples per B (normal or right-skewed): each interval covered the truth in 93-96% of fits and p was
    below 5% in 2-6%. The intervals assume the form: they are not widened for misfit, which the p-value flags.
    """
    b = np.asarray(batch_sizes, dtype=float)
    v = np.asarray(values, dtype=float)
    if len(np.unique(b)) < 3:
        raise ValueError(f"fit_inverse_batch needs >= 3 distinct batch sizes, got {sorted(set(b.tolist()))}")
    A = np.stack([np.ones_like(b), 1.0 / b - (1.0 / n_total if n_total else 0.0)], axis=1)
    dof = len(v) - 2
    if se is None:
        w = np.ones_like(v)
    else:
        s = np.asarray(se, dtype=float)
        w = 1.0 / np.maximum(s, 1e-12 * np.max(np.abs(v))) ** 2
    cov = np.linalg.inv(A.T @ (w[:, None] * A))
    coef = cov @ (A.T @ (w * v))
    pred = A @ coef
    chi2 = float(np.sum(w * (v - pred) ** 2))
    if se is None:  # OLS: the error scale is the residual scatter
        scale = chi2 / dof if dof > 0 else float("nan")
        p_value = float("nan")
    else:
        scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
        p_value = float(stats.chi2.sf(chi2, dof)) if dof > 0 else float("nan")
    (a, c), (sa, sc) = coef, np.sqrt(np.diag(cov) * scale)
    q = _quantile(level, dof, from_residuals=se is None or scale > 1.0)
    out = {"a": float(a), "a_lo": float(a - q * sa), "a_hi": float(a + q * sa), "a_se": float(sa),
           "c": float(c), "c_lo": float(c - q * sc), "c_hi": float(c + q * sc), "c_se": float(sc),
           "r2": r_squared(v, pred, w), "chi2": chi2 if se is not None else float("nan"),
           "dof": int(dof), "p_value": p_value, "n": int(len(b)), "weighted": se is not None, "bootstrap": 0}
    if se is not None and counts is not None and dof > 0:
        n = np.asarray(counts, dtype=float)
        if np.any(n < 2):
            raise ValueError(f"counts must be >= 2 where se is a sample standard error, got {n.tolist()}")
        ab, cb, chi2b, sab, scb = _bootstrap_inverse_batch(A[:, 1], pred, 1.0 / np.sqrt(w), n, bootstrap, seed)
        tail = (1 - level) / 2
        for name, est, draws, draw_se, est_se in (("a", a, ab, sab, math.sqrt(cov[0, 0])),
                                                   ("c", c, cb, scb, math.sqrt(cov[1, 1]))):
            lo, hi = np.quantile((draws - est) / draw_se, [tail, 1 - tail]) * est_se  # bootstrap-t
            out.update({f"{name}_lo": float(est - hi), f"{name}_hi": float(est - lo),
                        f"{name}_se": float(np.std(draws))})
        out.update(p_value=float((1 + np.sum(chi2b >= chi2)) / (1 + len(chi2b))), bootstrap=int(bootstrap))
    return out


def _bootstrap_inverse_batch(x: np.ndarray, pred: np.ndarray, se: np.ndarray, counts: np.ndarray, reps: int,
                             seed: int) -> tuple[np.ndarray, ...]:
    """``reps`` weighted refits of ``value = a + c x`` to data drawn from the fitted ``pred``: each mean from
    N(pred, se^2), each squared standard error from ``se^2 chi2(n - 1) / (n - 1)`` (a normal sample of ``n``);
    returns the refits' a, c, chi2 and the covariance standard errors of a and c, each ``(reps,)``. Closed-form
    2x2 normal equations, all refits at once."""
    rng = np.random.default_rng(seed)
    y = pred + se * rng.standard_normal((reps, len(x)))
    w = (counts - 1) / (se ** 2 * rng.chisquare(counts - 1, size=(reps, len(x))))
    s0, s1, s2 = w.sum(1), (w * x).sum(1), (w * x * x).sum(1)
    t0, t1 = (w * y).sum(1), (w * x * y).sum(1)
    det = s0 * s2 - s1 * s1
    a, c = (s2 * t0 - s1 * t1) / det, (s0 * t1 - s1 * t0) / det
    chi2 = (w * (y - a[:, None] - c[:, None] * x) ** 2).sum(1)
    return a, c, chi2, np.sqrt(s2 / det), np.sqrt(s0 / det)


def _quantile(level: float, dof: int, from_residuals: bool) -> float:
    """The two-sided ``level`` quantile: Student's t with ``dof`` degrees of freedom when the error scale was
    estimated from the residuals, the normal's when the given standard errors set it."""
    if from_residuals:
        return float(stats.t.ppf(0.5 + level / 2, dof)) if dof > 0 else float("nan")
    return float(stats.norm.ppf(0.5 + level / 2))


def fit_excess_exponent(batch_sizes, excess, se, n_total: float | None = None, level: float = 0.95) -> dict:
    """Weighted nonlinear least squares of ``excess = c (1/B - 1/N)^alpha`` (excess: mean lambda_max(B) minus
    the measured full value, with standard errors ``se``). ``alpha`` = 1 is the c/B outlier regime of the
    random-matrix prediction; 1/2 is what a noise norm ~ sqrt(P/B) at the bulk edge gives. Intervals as in
    :func:`fit_inverse_batch` without its bootstrap: the standard errors are taken as known, so with few samples
    per B the interval is too narrow (simulated, 4 per B: it covered the true alpha in 90% of fits; 16 per B: 96%).
    NaN when it does not converge or fewer than 3 sizes."""
    nan = {"alpha": float("nan"), "alpha_lo": float("nan"), "alpha_hi": float("nan")}
    b, y, s = (np.asarray(t, dtype=float) for t in (batch_sizes, excess, se))
    x = 1.0 / b - (1.0 / n_total if n_total else 0.0)
    if len(np.unique(b)) < 3 or np.any(x <= 0):
        return nan
    s = np.maximum(s, 1e-12 * np.max(np.abs(y)))
    # start from the log-log slope of the points with a clearly positive excess, else from alpha = 1
    pos = y > 2 * s
    alpha0 = float(np.polyfit(np.log(x[pos]), np.log(y[pos]), 1)[0]) if pos.sum() >= 2 else 1.0
    alpha0 = min(max(alpha0, 0.1), 3.0)
    c0 = float(np.sum(y * x ** alpha0 / s ** 2) / np.sum(x ** (2 * alpha0) / s ** 2))
    try:
        with warnings.catch_warnings():  # an undetermined covariance is handled below (NaN interval)
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            p, cov = optimize.curve_fit(lambda xx, c, al: c * xx ** al, x, y, p0=[c0, alpha0], sigma=s,
                                        absolute_sigma=True, maxfev=5000)
    except (RuntimeError, ValueError):
        return nan
    dof = len(y) - 2
    chi2 = float(np.sum(((y - p[0] * x ** p[1]) / s) ** 2))
    scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    q = _quantile(level, dof, from_residuals=scale > 1.0)
    half = q * math.sqrt(cov[1, 1] * scale) if np.isfinite(cov[1, 1]) else float("nan")
    return {"alpha": float(p[1]), "alpha_lo": float(p[1] - half), "alpha_hi": float(p[1] + half)}


def _positive(x, y) -> tuple[np.ndarray, np.ndarray]:
    """``x``, ``y`` as float arrays without the points where either is NaN or non-positive (log-log fits)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    return x[keep], y[keep]


def fit_loglog(x, y, max_x: float | None = None, level: float = 0.95, resolution: float | None = None) -> dict:
    """OLS of ``log y`` on ``log x`` (points with ``x <= max_x``): slope, its ``level`` CI (t distribution),
    intercept, r2, n. NaN or non-positive points are dropped. ``resolution`` (> 1): each y is known only to within
    that factor (a bisection's final bracket, ``lr_fail / lr_max``), a uniform error of variance
    ``log(resolution)^2 / 12`` over the bracket, so the slope's variance is taken as at least that over the spread
    of the *distinct* x: repeated points at one x (seeds) that land on the same grid point share its error, they
    do not average it out (counting them as independent, simulated seeds agreeing to the grid got 95% intervals
    that covered the true slope in 36% of fits). Points that agree to the grid (a flat regime) get an interval of
    the grid's width, not zero."""
    x, y = _positive(x, y)
    if max_x is not None:
        x, y = x[x <= max_x], y[x <= max_x]
    x, y = np.log(x), np.log(y)
    if len(np.unique(x)) < 2 or len(x) < 3:
        raise ValueError(f"fit_loglog needs >= 3 points over >= 2 distinct x, got {len(x)}")
    r = stats.linregress(x, y)
    # the slope's standard error from the residuals: linregress derives it from r, which is NaN when every y is the
    # same (a flat regime, which a bisection on its fixed lr grid gives exactly); a perfect fit has a zero-width CI
    var = float(np.sum((y - r.intercept - r.slope * x) ** 2)) / (len(x) - 2)
    stderr2 = var / float(np.sum((x - x.mean()) ** 2))
    if resolution is not None and resolution > 1:
        distinct = np.unique(x)
        stderr2 = max(stderr2, math.log(resolution) ** 2 / 12 / float(np.sum((distinct - distinct.mean()) ** 2)))
    stderr = math.sqrt(stderr2)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 2) * stderr
    return {"slope": float(r.slope), "slope_lo": float(r.slope - half), "slope_hi": float(r.slope + half),
            "intercept": float(r.intercept), "r2": float(r.rvalue ** 2), "n": int(len(x))}


def batch_means(lam) -> "pd.DataFrame":
    """Per batch size of the batch rows of a lambda_max table: mean, sd, n and standard error of the mean."""
    g = lam[lam.scope == "batch"].groupby("batch_size").lambda_max
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    out["se"] = out.sd / np.sqrt(out.n)
    return out


def lambda_fits(lam, by=("curvature",)) -> tuple["pd.DataFrame", "pd.DataFrame"]:
    """The c/B fit of the batch rows of a lambda_max table, per group in ``by``; returns ``(fits, residuals)``.

    The fit is :func:`fit_inverse_batch` on the per-B means weighted by their standard errors (when every B has
    at least 2 batches, with the batch counts: p-value and intervals by its bootstrap; unweighted on the means
    otherwise), with N = the full operator's example count. ``fits``
    adds ``r2_points`` (the same form fitted by plain least squares to every single batch: what the study used
    to report; it is capped by the batch-to-batch scatter, which no function of B explains), the measured full
    value, the gap of ``a`` to it in relative terms and in standard errors of ``a``, and the exponent ``alpha``
    (95% CI) of :func:`fit_excess_exponent`. ``residuals``: per B, mean, se, fitted value, residual and
    residual / se.
    """
    import pandas as pd
    rows, resid = [], []
    for key, d in lam.groupby(list(by)):
        tag = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        full = d[d.scope == "full"].lambda_max
        n_full = float(d[d.scope == "full"].batch_size.iloc[0]) if len(full) else None
        lam_full = float(full.mean()) if len(full) else float("nan")
        m = batch_means(d)
        weighted = bool((m.n >= 2).all() and (m.se > 0).all())
        f = fit_inverse_batch(m.batch_size, m["mean"], n_full, se=m.se if weighted else None,
                              counts=m.n if weighted else None)
        batch = d[d.scope == "batch"]
        r2_points = fit_inverse_batch(batch.batch_size, batch.lambda_max, n_full)["r2"]
        pred = f["a"] + f["c"] * (1 / m.batch_size - (1 / n_full if n_full else 0.0))
        resid += [{**tag, "batch_size": int(r.batch_size), "mean": r["mean"], "se": r.se, "n": int(r.n),
                   "fit": p, "residual": r["mean"] - p, "z": (r["mean"] - p) / r.se if r.se > 0 else float("nan")}
                  for (_, r), p in zip(m.iterrows(), pred)]
        alpha = fit_excess_exponent(m.batch_size, m["mean"] - lam_full, m.se, n_full) if weighted and len(full) \
            else {"alpha": float("nan"), "alpha_lo": float("nan"), "alpha_hi": float("nan")}
        a_se = f["a_se"]
        rows.append({**tag, **f, "r2_points": r2_points, **alpha, "n_total": n_full, "lambda_full": lam_full,
                     "a_vs_full_rel": (f["a"] - lam_full) / lam_full,
                     "a_vs_full_se": (f["a"] - lam_full) / a_se if a_se > 0 else float("nan"),
                     "batches_per_size": int(m.n.min())})
    return pd.DataFrame(rows), pd.DataFrame(resid)


def fit_break(x, y, level: float = 0.05) -> float:
    """The break of a continuous two-segment line through ``log y`` against ``log x`` (a hinge: slope s1 up to
    the break, s2 after it), by least squares with the break at one of the measured x (each segment needs >= 2
    distinct x and >= 3 points, the break counted in both); ``inf`` unless the hinge beats a single line by the
    F-test of the nested fits at ``level``, Bonferroni-corrected for the number of candidate breaks (the best of
    several candidates would otherwise find a break in pure noise). At a given break the hinge is a linear model
    with one parameter more than the line, hence F(1, n - 3); the search over breaks is what Bonferroni pays for
    (counting the break as a second parameter as well, F(2, n - 4), flagged 0.8% of pure-noise series at 5%, and
    missed 30% of real breaks where this test misses 12%: 8 sizes x 3 seeds, 3000 series each). NaN or
    non-positive points are dropped."""
    x, y = _positive(x, y)
    lx, ly = np.log(x), np.log(y)
    n, ones = len(lx), np.ones(len(lx))

    def sse(design: np.ndarray) -> float:
        coef = np.linalg.lstsq(design, ly, rcond=None)[0]
        return float(np.sum((ly - design @ coef) ** 2))

    candidates = []
    for size in np.unique(x):  # the measured size itself, not exp(log(size)): compared with <= later
        b = math.log(size)
        lo, hi = lx <= b, lx >= b
        if min(len(np.unique(lx[lo])), len(np.unique(lx[hi]))) >= 2 and min(lo.sum(), hi.sum()) >= 3:
            candidates.append((sse(np.column_stack([ones, np.minimum(lx, b), np.maximum(lx - b, 0.0)])), size))
    if not candidates or n <= 3:
        return math.inf
    hinge, size = min(candidates)
    line = sse(np.column_stack([ones, lx]))
    if hinge <= 0:
        return float(size) if line > 0 else math.inf
    p = stats.f.sf((line - hinge) / (hinge / (n - 3)), 1, n - 3)
    return float(size) if p < level / len(candidates) else math.inf


def critical_batches(lr) -> dict[str, float]:
    """Per optimizer, :func:`fit_break` of max stable lr on batch size (seeds pooled, censored rows dropped): the
    critical batch size read from the measurements themselves (``inf``: no break found)."""
    ok = lr[~lr.censored.astype(bool)]
    return {o: fit_break(d.batch_size, d.lr_max) for o, d in ok.groupby("optimizer")}


def slope_fits(lr, max_batch: float | dict[str, float] | None = None) -> "pd.DataFrame":
    """:func:`fit_loglog` of max stable lr on batch size per optimizer (all seeds pooled, censored rows dropped).

    One row per optimizer and regime: ``"below"`` fits the batch sizes up to ``max_batch`` (the critical batch
    size, where the paper predicts slope 1 for SGD and 1/2 for Adam; one for all optimizers, or per optimizer as
    :func:`critical_batches` gives); ``"above"`` fits those from ``max_batch`` on (where the predicted growth
    stops), when there are at least two such sizes and three points. Columns ``min_batch`` and ``max_batch`` give
    each fit's range. A "below" range with too few points for a fit (e.g. censored runs dropped) gets NaN
    estimates and its ``n``, so that a long run still ends with its table. With an ``lr_fail`` column, each fit's
    residual variance is at least the bisection bracket's (:func:`fit_loglog`'s ``resolution``, the median
    ``lr_fail / lr_max`` of the optimizer's rows).
    """
    import pandas as pd
    ok = lr[~lr.censored.astype(bool)]
    rows = []
    for o, d in ok.groupby("optimizer"):
        cap = max_batch.get(o) if isinstance(max_batch, dict) else max_batch
        top = float(d.batch_size.max()) if cap is None else min(float(cap), float(d.batch_size.max()))
        res = float((d.lr_fail / d.lr_max).median()) if "lr_fail" in d else None  # the bisection's bracket
        try:
            fit = fit_loglog(d.batch_size, d.lr_max, max_x=top, resolution=res)
        except ValueError:  # too few points up to the cap
            fit = dict.fromkeys(("slope", "slope_lo", "slope_hi", "intercept", "r2"), float("nan")) | {
                "n": int((d.batch_size <= top).sum())}
        rows.append({"optimizer": o, "regime": "below", **fit, "min_batch": float(d.batch_size.min()),
                     "max_batch": top})
        above = d[d.batch_size >= top]
        if above.batch_size.nunique() >= 2 and len(above) >= 3:
            rows.append({"optimizer": o, "regime": "above", **fit_loglog(above.batch_size, above.lr_max,
                                                                         resolution=res),
                         "min_batch": top, "max_batch": float(d.batch_size.max())})
    return pd.DataFrame(rows)


def critical_batch(fit: dict) -> float:
    """The batch size where the excess term ``c (1/B - 1/N)`` of a :func:`fit_inverse_batch` fit equals its ``a``
    (the full-data lambda_max): below it the batch's excess curvature dominates, and the paper's lr laws apply.
    That is ``1 / (a/c + 1/N)`` with the fit's ``n_total`` N (``c / a`` without one, or for N much larger).
    NaN when either is not positive, or when the fit's interval for either (``a_lo``, ``c_lo``, where given)
    reaches 0: then the data do not determine it."""
    a, c = fit["a"], fit["c"]
    if not (a > 0 and c > 0) or fit.get("a_lo", 1.0) <= 0 or fit.get("c_lo", 1.0) <= 0:
        return float("nan")
    n = fit.get("n_total")
    return float(1.0 / (a / c + (1.0 / n if n and n == n else 0.0)))
