"""The gather figures on a hand-made bench table: titled, and with the pinned-copy ceiling measured, a second
axis in fractions of it (the issue reports every gather figure as a fraction of that ceiling)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from workbench.gpu_access import figures  # noqa: E402


@pytest.mark.parametrize("draw", [figures.gather_vs_row_bytes, figures.gather_vs_table_bytes])
def test_gather_figures_show_the_ceiling_as_a_fraction_axis(draw):
    bench = pd.DataFrame([{"store": s, "order": o, "row_bytes": rb, "table_bytes": tb, "gbps": g, "status": "ok"}
                          for s, g in (("cpu", 10.0), ("zero_copy", 25.0)) for o in ("random", "sorted")
                          for rb in (128, 512) for tb in (2**26, 2**28)])
    ax = draw(bench, h2d_gbps=50.0).axes[0]
    assert ax.get_title() and ax.get_ylabel() == "useful throughput (GB/s)"
    right = [a for a in ax.child_axes if a.get_ylabel() == "fraction of the pinned H2D copy"]
    assert len(right) == 1
    assert not draw(bench).axes[0].child_axes   # no ceiling measured (a CPU run): no fraction axis
    plt.close("all")
