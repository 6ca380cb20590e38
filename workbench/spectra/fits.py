"""The two fits of the studies: lambda_max(B) = lambda_full + c / B, and log-log slopes with confidence intervals."""
from __future__ import annotations

import numpy as np
from scipy import stats


def r_squared(y: np.ndarray, pred: np.ndarray) -> float:
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - np.mean(y)) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def fit_inverse_batch(batch_sizes, values, n_total: float | None = None) -> dict:
    """Least squares ``value = a + c (1/B - 1/N)`` (the random-matrix prediction for the top batch eigenvalue;
    the ``-1/N`` finite-population term applies to batches drawn without replacement from N examples, and is
    dropped when ``n_total`` is None).

    Returns ``a`` (the extrapolated lambda_full), ``c``, ``r2`` and ``n``; needs at least 3 distinct B.
    """
    b = np.asarray(batch_sizes, dtype=float)
    v = np.asarray(values, dtype=float)
    if len(np.unique(b)) < 3:
        raise ValueError(f"fit_inverse_batch needs >= 3 distinct batch sizes, got {sorted(set(b.tolist()))}")
    A = np.stack([np.ones_like(b), 1.0 / b - (1.0 / n_total if n_total else 0.0)], axis=1)
    (a, c), *_ = np.linalg.lstsq(A, v, rcond=None)
    return {"a": float(a), "c": float(c), "r2": r_squared(v, A @ np.array([a, c])), "n": int(len(b))}


def fit_loglog(x, y, max_x: float | None = None, level: float = 0.95) -> dict:
    """OLS of ``log y`` on ``log x`` (points with ``x <= max_x``): slope, its ``level`` CI (t distribution),
    intercept, r2, n. NaN or non-positive points are dropped."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if max_x is not None:
        keep &= x <= max_x
    x, y = np.log(x[keep]), np.log(y[keep])
    if len(np.unique(x)) < 2 or len(x) < 3:
        raise ValueError(f"fit_loglog needs >= 3 points over >= 2 distinct x, got {len(x)}")
    r = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 2) * r.stderr
    return {"slope": float(r.slope), "slope_lo": float(r.slope - half), "slope_hi": float(r.slope + half),
            "intercept": float(r.intercept), "r2": float(r.rvalue ** 2), "n": int(len(x))}


def lambda_fits(lam, by=("curvature",)) -> "pd.DataFrame":
    """:func:`fit_inverse_batch` on the batch rows of a lambda_max table, per group in ``by`` (with N = the full
    operator's example count when present); adds the measured full value, the relative gap of ``a`` to it, and
    the exponent ``alpha`` (95% CI) of a power law fitted to the mean excess lambda_max(B) - lambda_full."""
    import pandas as pd
    rows = []
    for key, d in lam.groupby(list(by)):
        batch, full = d[d.scope == "batch"], d[d.scope == "full"].lambda_max
        n_full = float(d[d.scope == "full"].batch_size.iloc[0]) if len(full) else None
        f = fit_inverse_batch(batch.batch_size, batch.lambda_max, n_full)
        lam_full = float(full.mean()) if len(full) else float("nan")
        excess = batch.groupby("batch_size").lambda_max.mean() - lam_full
        try:  # the exponent alpha of excess ~ B^-alpha: 1 in the RMT outlier regime, 1/2 if the bulk edge rules
            pw = fit_loglog(excess.index, excess.values)
            alpha = {"alpha": -pw["slope"], "alpha_lo": -pw["slope_hi"], "alpha_hi": -pw["slope_lo"]}
        except ValueError:  # fewer than 3 positive excesses: no exponent
            alpha = {"alpha": float("nan"), "alpha_lo": float("nan"), "alpha_hi": float("nan")}
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), **f, **alpha, "n_total": n_full,
                     "lambda_full": lam_full,
                     "a_vs_full_rel": (f["a"] - lam_full) / lam_full})
    return pd.DataFrame(rows)


def slope_fits(lr, max_batch: float | None = None) -> "pd.DataFrame":
    """:func:`fit_loglog` of max stable lr on batch size per optimizer (all seeds pooled, censored rows dropped)."""
    import pandas as pd
    ok = lr[~lr.censored.astype(bool)]
    return pd.DataFrame([{"optimizer": o, **fit_loglog(d.batch_size, d.lr_max, max_x=max_batch),
                          "max_batch": max_batch} for o, d in ok.groupby("optimizer")])
