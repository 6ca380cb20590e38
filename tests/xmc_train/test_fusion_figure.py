"""The fusion-sweep figure: one line per two-head model per metric, labelled axes, the reported weight ringed."""
from __future__ import annotations

import matplotlib
import pandas as pd

matplotlib.use("Agg")

from workbench.xmc_train.figures import fusion_sweep  # noqa: E402


def test_fusion_sweep_figure_draws_each_model_and_rings_the_reported_alpha():
    rows = [{"sampler": s, "alpha": a, "head": "clf" if a == 0 else "de" if a == 1 else "fused",
             "headline": a in (0.0, 0.5, 1.0), "P@1": 10 * a + i, "PSP@5": 5 * a + i}
            for i, s in enumerate(("in_batch +BCE clf", "unidec")) for a in (1.0, 0.0, 0.5, 0.2)]
    fig = fusion_sweep(pd.DataFrame(rows))
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == ["P@1 (%)", "PSP@5 (%)"]
    assert all(ax.get_title() and "alpha" in ax.get_xlabel() for ax in axes)
    curves = [ln for ln in axes[0].lines if ln.get_label() in ("in_batch +BCE clf", "unidec")]
    assert len(curves) == 2
    assert list(curves[0].get_xdata()) == [0.0, 0.2, 0.5, 1.0], "drawn in order of alpha, whatever the row order"
    rings = [ln for ln in axes[0].lines if ln.get_markerfacecolor() == "none"]
    assert [list(r.get_xdata()) for r in rings] == [[0.5], [0.5]]
    assert list(rings[1].get_ydata()) == [6.0], "unidec's fused row at alpha 0.5"
