"""The quantile behind the c/B fit's intervals: Student's t when the residuals set the error scale, the normal's
when the given standard errors do. Does not prove the intervals' coverage (a simulation would)."""
import pytest
from scipy import stats

from workbench.spectra.fits import fit_inverse_batch


def test_ols_and_overdispersed_fits_use_t_and_a_fit_within_its_errors_the_normal():
    b = [4, 16, 64, 256]
    noisy = [3 + 60 / x + e for x, e in zip(b, (0.3, -0.4, 0.2, -0.1))]
    ols = fit_inverse_batch(b, noisy)                      # no se: the scale is the residuals', 2 dof
    assert (ols["a_hi"] - ols["a"]) / ols["a_se"] == pytest.approx(stats.t.ppf(0.975, 2))
    over = fit_inverse_batch(b, noisy, se=[0.01] * 4)      # error bars far below the scatter: widened, t again
    assert over["p_value"] < 1e-6 and (over["c_hi"] - over["c"]) / over["c_se"] == pytest.approx(stats.t.ppf(0.975, 2))
    within = fit_inverse_batch(b, noisy, se=[1.0] * 4)     # chi2 / dof < 1: the given errors set the scale
    assert within["p_value"] > 0.5 and (within["a_hi"] - within["a"]) / within["a_se"] == pytest.approx(1.959964)


def test_a_flat_regime_on_the_bisection_grid_gets_the_grids_width():
    """lr_max identical at every B (a flat regime read on a bracket of factor 10): the residuals are 0, yet each
    value is only known to a factor 10; the slope's interval is then that of a uniform error over the bracket,
    not zero. Does not prove the uniform model of the bracket error."""
    import math

    import numpy as np

    from workbench.spectra.fits import fit_loglog
    b, lr = [16, 64, 256, 1024], [0.1] * 4
    assert fit_loglog(b, lr)["slope_hi"] == pytest.approx(0.0)
    f = fit_loglog(b, lr, resolution=10.0)
    sxx = float(np.sum((np.log(b) - np.log(b).mean()) ** 2))
    half = stats.t.ppf(0.975, 2) * math.sqrt(math.log(10.0) ** 2 / 12 / sxx)
    assert f["slope"] == pytest.approx(0.0) and f["slope_hi"] == pytest.approx(half) and half > 0.2
