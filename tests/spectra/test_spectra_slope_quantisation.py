"""The lr-vs-batch slope interval when the bisection grid, not the seed noise, sets the error: seeds that land on
the same grid point share its error, so the interval must not shrink with the seed count. Simulated: max stable
lr = k * B exactly (slope 1), a random grid phase, 3 seeds, B = 2..16, 6 bisection halvings over [1e-4, 1] (the
fmnist profile's "below" fit). Does not prove: coverage where seeds scatter across grid points (the residuals
set the interval there, as in any least-squares fit)."""
import math

import numpy as np
import pandas as pd

from workbench.spectra.fits import slope_fits
from workbench.spectra.lr_search import bisect_max_lr


def test_slope_interval_covers_the_true_slope_when_seeds_agree_to_the_grid():
    rng = np.random.default_rng(5)
    covered, reps = 0, 100
    for _ in range(reps):
        k = 10 ** rng.uniform(-3.5, -2.5)
        rows = [{"optimizer": "sgd", "batch_size": b, **bisect_max_lr(lambda lr, t=k * b: lr < t, 1e-4, 1.0, 6)}
                for _seed in range(3) for b in (2, 4, 8, 16)]
        f = slope_fits(pd.DataFrame(rows)).set_index("regime").loc["below"]
        assert math.isfinite(f.slope_lo) and f.slope_lo < f.slope < f.slope_hi
        covered += f.slope_lo <= 1.0 <= f.slope_hi
    assert covered / reps >= 0.9  # seeds counted as independent points: ~0.36
