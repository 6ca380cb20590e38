"""The gather figures on a hand-made bench table: titled, and with the pinned-copy ceiling measured, a second
axis in fractions of it (the issue reports every gather figure as a fraction of that ceiling)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from workbench.gpu_access import figures  # noqa: E402


@pytest.mark.parametrize("draw", [figures.gather_vs_row_bytes, figures.gather_vs_table_bytes])
def test_gather_figures_show_the_ceiling_as_a_fraction_axis(draw):
    bench = pd.DataFrame([{"store": s, "order": o, "row_bytes": rb, "table_bytes": tb, "gbps": g, "status": "ok"}
                          for s, g in (("cpu", 10.0), ("zero_copy", 25.0)) for o in ("random", "sorted")
                          for rb in (128, 512) for tb in (2**26, 2**28)])
    fig = draw(bench, h2d_gbps=50.0)
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_ylabel() == "useful throughput (GB/s)"
    right = [a for a in ax.child_axes if a.get_ylabel() == "fraction of the pinned H2D copy"]
    assert len(right) == 1
    fig.canvas.draw()  # the fraction axis is GB/s over the ceiling, not times it
    assert np.allclose(right[0].get_ylim(), np.array(ax.get_ylim()) / 50.0)
    assert not draw(bench).axes[0].child_axes   # no ceiling measured (a CPU run): no fraction axis
    plt.close("all")


def _sweep_rows() -> pd.DataFrame:
    """A 64 MiB and an 8 MiB table; rows of 128, 132 (a few bytes smaller table: 64 MiB is no multiple of 132)
    and 512 B; calls of 4096 rows (10 GB/s) and 65536 rows (30 GB/s); plus calls flagged ``l2_bound`` at 999."""
    rows = []
    for target in (64 << 20, 8 << 20):
        for rb in (128, 132, 512):
            for n, gbps, l2 in ((4096, 10.0, False), (65536, 30.0, False), (65536, 999.0, True)):
                rows.append({"store": "zero_copy", "order": "random", "row_bytes": rb, "rows": n, "gbps": gbps,
                             "table_target_bytes": target, "table_bytes": target // rb * rb, "l2_bound": l2,
                             "status": "ok"})
    return pd.DataFrame(rows)


def test_row_bytes_figure_keeps_unaligned_rows_one_call_size_and_no_l2_bound_calls():
    df, tb, rows = figures.row_bytes_medians(_sweep_rows())
    assert tb == 64 << 20 and rows == 65536
    assert df["row_bytes"].tolist() == [128, 132, 512]  # 132 B: grouped by the size asked for, not table_bytes
    assert (df["gbps"] == 30.0).all()                    # the largest calls only; L2-bound calls left out
    assert figures.row_bytes_medians(_sweep_rows(), 8 << 20)[1] == 8 << 20
    title = figures.gather_vs_row_bytes(_sweep_rows()).axes[0].get_title()
    assert "64 MiB table, 65536 rows per call" in title and "L2-bound calls left out" in title
    only_l2 = _sweep_rows().assign(l2_bound=True)
    assert "no gather measured" in figures.gather_vs_row_bytes(only_l2).axes[0].texts[0].get_text()
    plt.close("all")


def test_table_bytes_figure_takes_each_tables_largest_uncached_call():
    """Per table the largest call not flagged l2_bound (30 GB/s), never a median over call sizes (20) nor the
    flagged 999; tables grouped by the size asked for (132 B rows)."""
    df, rb = figures.table_bytes_medians(_sweep_rows())
    assert rb == 512 and sorted(df["table"]) == [8 << 20, 64 << 20] and (df["gbps"] == 30.0).all()
    df, rb = figures.table_bytes_medians(_sweep_rows(), row_bytes=132)
    assert rb == 132 and sorted(df["table"]) == [8 << 20, 64 << 20]
    small = _sweep_rows()
    small = small[~((small["table_target_bytes"] == 8 << 20) & (small["rows"] == 65536))]  # 8 MiB: small calls only
    df, _ = figures.table_bytes_medians(small)
    assert df.set_index("table")["gbps"].to_dict() == {8 << 20: 10.0, 64 << 20: 30.0}
    assert "largest call" in figures.gather_vs_table_bytes(_sweep_rows()).axes[0].get_title()
    plt.close("all")


@pytest.mark.parametrize("draw", [figures.gather_vs_row_bytes, figures.gather_vs_table_bytes])
def test_gather_figures_plot_distinct_rows_against_the_copy_where_measured(draw):
    """zero_copy at 45 GB/s of every row returned but 40 GB/s of distinct rows (repeats do not cross the link):
    against the 50 GB/s copy the figures plot 40 (fraction 0.8, not 0.9) and say so on the axis; a sweep without
    the distinct-rows column keeps plotting every row's throughput."""
    bench = pd.DataFrame([{"store": "zero_copy", "order": "random", "row_bytes": rb, "table_bytes": tb, "rows": 4096,
                           "gbps": 45.0, "gbps_unique": 40.0, "status": "ok"}
                          for rb in (128, 512) for tb in (2**26, 2**28)])
    ax = draw(bench, h2d_gbps=50.0).axes[0]
    assert ax.get_ylabel() == "distinct rows' throughput (GB/s)"
    assert {round(y, 6) for line in ax.get_lines() if line.get_label() != "pinned H2D copy 50.0 GB/s"
            for y in line.get_ydata()} == {40.0}
    assert draw(bench.drop(columns="gbps_unique")).axes[0].get_ylabel() == "useful throughput (GB/s)"
    # no link to compare with (a CPU run): every row's throughput, as the notebook's table shows it
    ax = draw(bench).axes[0]
    assert ax.get_ylabel() == "useful throughput (GB/s)"
    assert {round(y, 6) for line in ax.get_lines() for y in line.get_ydata()} == {45.0}
    plt.close("all")


@pytest.mark.parametrize("draw", [figures.gather_vs_row_bytes, figures.gather_vs_table_bytes])
def test_gather_figures_name_auto_by_the_store_it_chose(draw):
    """auto's rows carry the store it picked: the legend reads auto(cpu)."""
    bench = pd.DataFrame([{"store": s, "chosen": "cpu", "order": "random", "row_bytes": rb, "table_bytes": tb,
                           "rows": 4096, "gbps": 5.0, "status": "ok"}
                          for s in ("cpu", "auto") for rb in (128, 512) for tb in (2**26, 2**28)])
    labels = [t.get_text() for t in draw(bench).axes[0].get_legend().get_texts()]
    assert "auto(cpu)" in labels and "auto" not in labels
    plt.close("all")


def test_auto_lines_that_chose_different_stores_have_different_colours():
    """Where auto switches store with the call size, its two lines differ in colour (they shared auto's), and
    neither takes a store's own colour."""
    bench = pd.DataFrame([{"store": s, "chosen": c, "order": "random", "row_bytes": rb, "table_bytes": 2**28,
                           "rows": 4096, "gbps": 5.0, "status": "ok"}
                          for s, c in (("zero_copy", "zero_copy"), ("gpu", "gpu"), ("auto", "zero_copy"),
                                       ("auto", "gpu")) for rb in (128, 512)])
    ax = figures.gather_vs_row_bytes(bench).axes[0]
    colours = {t.get_text(): h.get_color() for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)
               if t.get_text() in ("zero_copy", "gpu", "auto(zero_copy)", "auto(gpu)")}
    assert len(colours) == 4 and len(set(colours.values())) == 4
    plt.close("all")


def test_gather_figures_tick_the_measured_sizes_and_mark_unaligned_rows():
    """Ticks at the measured row sizes (132 unlabelled beside 128) and table sizes (8, 64 MiB), not at 2^k; the
    132 B rows (aligned False) are unconnected markers with one legend entry, the line runs 128 -> 512."""
    bench = _sweep_rows().assign(aligned=lambda d: d["row_bytes"] != 132)
    ax = figures.gather_vs_row_bytes(bench).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["128", "512"]
    assert "unaligned 132 B rows (wide: random, narrow: sorted)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert [list(ln.get_xdata()) for ln in ax.get_lines() if len(ln.get_xdata())] == [[128, 512], [132]]
    ax = figures.gather_vs_table_bytes(bench).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "64"]
    plt.close("all")
