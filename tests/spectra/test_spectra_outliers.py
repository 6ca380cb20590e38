"""Per-Ritz residuals of Lanczos and the outlier count they certify. Does not prove that a certified count is
complete (an eigenvalue that Lanczos has not resolved yet is not counted)."""
import numpy as np
import pandas as pd
import torch

from workbench.spectra.experiments import outlier_table
from workbench.spectra.lanczos import lanczos


def test_ritz_residuals_are_the_true_residual_norms():
    """Against ``||A y - theta y||`` from the Ritz vectors of an explicit random symmetric matrix, its Krylov
    basis rebuilt from the same start vector by Gram-Schmidt (twice per vector)."""
    g = torch.Generator().manual_seed(0)
    M = torch.randn(60, 60, generator=g, dtype=torch.float64)
    A = (M + M.T) / 2
    r = lanczos(lambda v: A @ v, 60, 12, generator=torch.Generator().manual_seed(1))
    v0 = torch.randint(0, 2, (60,), generator=torch.Generator().manual_seed(1), dtype=torch.int8).double() * 2 - 1
    K = [v0 / v0.norm()]
    for _ in range(11):
        w = A @ K[-1]
        for _ in range(2):
            w = w - torch.stack(K).T @ (torch.stack(K) @ w)
        K.append(w / w.norm())
    Qk = torch.stack(K).T.numpy()
    theta, S = np.linalg.eigh(Qk.T @ A.numpy() @ Qk)
    Y = Qk @ S
    true = np.linalg.norm(A.numpy() @ Y - Y * theta, axis=0)
    assert np.allclose(r.ritz, theta, atol=1e-9)
    assert np.allclose(r.residuals, true, rtol=1e-6, atol=1e-9) and true.max() > 1.0  # unconverged ones too


def test_outliers_count_only_ritz_values_whose_interval_clears_the_threshold():
    # full operator's top 10 -> threshold 1. Probe 0 at B=16: 12 (residual 0.1, certified), 3 (residual 2.5:
    # its interval reaches 0.5, so not certified), 0.8; probe 1: 11 (0.0), 0.9, 0.2. Certified: 1 and 1 -> 1.0;
    # above the threshold at all: 2 and 1 -> 1.5.
    rows = [(16, 0, 12.0, 0.1), (16, 0, 3.0, 2.5), (16, 0, 0.8, 0.0), (16, 1, 11.0, 0.0), (16, 1, 0.9, 0.0),
            (16, 1, 0.2, 0.0), (100, 0, 10.0, 0.0), (100, 0, 0.5, 0.0)]
    ritz = pd.DataFrame([{"epoch": 0, "curvature": "hessian", "batch_size": b, "probe": p, "ritz": v, "weight": 1 / 3,
                          "residual": e, "scope": "full" if b == 100 else "batch"} for b, p, v, e in rows])
    out = outlier_table(ritz).set_index("batch_size")
    assert out.loc[16, "threshold"] == 1.0
    assert out.loc[16, "outliers"] == 1.0 and out.loc[16, "ritz_above"] == 1.5
    assert out.loc[16, "bulk_edge"] == 0.9 and out.loc[100, "outliers"] == 1.0
    legacy = outlier_table(ritz.drop(columns="residual")).set_index("batch_size")
    assert legacy.loc[16, "outliers"] == 1.5  # no residuals recorded: every value above counts
