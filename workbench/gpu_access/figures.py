"""Figures of the GPU data access study: tidy tables in, a titled matplotlib Figure with units and legend out."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker

from ..report import log_y_if_wide
from .policy import asked_table_bytes

PHASES = ("sample_s", "gather_s", "compute_s")
# one colour per store in every figure and run (seaborn's hue order follows the rows, so colours moved between
# figures); auto is named by the store it chose, and where it switches with the call size (auto(zero_copy) for
# small calls, auto(gpu) for large) its two lines need two colours
STORE_COLOURS = dict(zip(("cpu", "zero_copy", "gpu", "auto", "auto(zero_copy)", "auto(gpu)"),
                         [sns.color_palette("colorblind").as_hex()[i] for i in (0, 1, 2, 4, 9, 3)]))


def _palette(df: pd.DataFrame) -> dict[str, str]:
    """:data:`STORE_COLOURS` for the stores in ``df`` (an ``auto(...)`` not listed there takes auto's), a spare
    grey for any other."""
    return {s: STORE_COLOURS.get(s, STORE_COLOURS.get(s.split("(")[0], "0.5")) for s in df["store"].unique()}


def _legend_outside(ax) -> None:
    """The legend below the axes: inside, it covered measurements; right of them, the fraction axis."""
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.26), ncols=3, frameon=False)


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    """The measured rows, ``auto`` named by the store it chose (``auto(cpu)``, as the epoch figure does: on a
    CPU it is the cpu store, and a plain ``auto`` line read as a faster store beside ``cpu``)."""
    df = df[df["status"] == "ok"] if "status" in df else df
    if "chosen" in df and (df["store"] == "auto").any():
        df = df.assign(store=df["store"].where(df["store"] != "auto", "auto(" + df["chosen"].astype(str) + ")"))
    return df


def _empty(ax, title: str, why: str):
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
    ax.set(title=title, xticks=[], yticks=[])
    return ax.figure


def _ceiling(ax, h2d_gbps: float | None) -> None:
    """The pinned H2D copy bandwidth as a dashed line, and a right axis in fractions of it (the study reports
    every gather as a fraction of the physical ceiling measured in the same run)."""
    if not h2d_gbps:
        return
    ax.axhline(h2d_gbps, ls="--", color="gray", label=f"pinned H2D copy {h2d_gbps:.1f} GB/s")
    right = ax.secondary_yaxis("right", functions=(lambda g: g / h2d_gbps, lambda f: f * h2d_gbps))
    right.set_ylabel("fraction of the pinned H2D copy")


def _measured_ticks(axis, values, min_octaves: float = 0.5) -> None:
    """Ticks on a log2 ``axis`` at the measured ``values`` (few points: 2^k ticks fell between them), as plain
    numbers; a value within ``min_octaves`` of a smaller one kept before it is left unlabelled (132 beside 128)."""
    kept: list[float] = []
    for v in sorted(set(float(v) for v in values if v > 0)):
        if not kept or np.log2(v / kept[-1]) >= min_octaves:
            kept.append(v)
    axis.set_ticks(kept, [f"{v:g}" for v in kept])
    axis.set_minor_locator(ticker.NullLocator())


def _unaligned(bench: pd.DataFrame) -> set:
    """Row sizes the sweep measured unaligned (``aligned`` False: 132 B rows straddle cache lines and sectors)."""
    return set(bench.loc[bench["aligned"].eq(False), "row_bytes"]) if "aligned" in bench else set()


def _rates(df: pd.DataFrame) -> list[str]:
    """The throughput columns a sweep holds: ``gbps`` (every row returned) and ``gbps_unique`` (distinct rows)."""
    return [c for c in ("gbps", "gbps_unique") if c in df]


def _link_rate(df: pd.DataFrame, h2d_gbps: float | None) -> tuple[str, str]:
    """The column a figure plots, and its axis label: against a pinned copy (``h2d_gbps``), distinct rows' bytes
    per second where measured (a repeated row does not cross the link again: ``gbps`` read 1.13x the copy where
    distinct rows crossed at exactly its speed); without a link, every row's (``gbps``, the notebook's table: a
    CPU store gathers repeats too, and random draws repeat rows more on small tables, so distinct rows' throughput
    rose with the table where every row's fell)."""
    if h2d_gbps and "gbps_unique" in df and df["gbps_unique"].notna().any():
        return "gbps_unique", "distinct rows' throughput (GB/s)"
    return "gbps", "useful throughput (GB/s)"


def row_bytes_medians(bench: pd.DataFrame, table_bytes: int | None = None) -> tuple[pd.DataFrame, int, int | None]:
    """(median gbps and gbps_unique per store, order and row size; the table size; the rows per call) of the
    measurements :func:`gather_vs_row_bytes` draws: status ok, not ``l2_bound`` (a call asking for more bytes
    than the table holds, or a table in the GPU's L2, measures caches, not the link), on one table size asked
    for (``table_target_bytes``: a 132 B row cuts a few bytes smaller table from the same buffer; default the
    largest) and at the largest rows per call measured there (None where the table has no ``rows`` column)."""
    df = _ok(bench)
    if "l2_bound" in df:
        df = df[~df["l2_bound"].eq(True)]
    if df.empty:
        return df, 0, None
    size = asked_table_bytes(df)
    tb = int(table_bytes or size.max())
    df = df[size == tb]
    rows = int(df["rows"].max()) if "rows" in df and df["rows"].notna().any() else None
    if rows is not None:
        df = df[df["rows"] == rows]
    return df.groupby(["store", "order", "row_bytes"], as_index=False)[_rates(df)].median(), tb, rows


def gather_vs_row_bytes(bench: pd.DataFrame, h2d_gbps: float | None = None, table_bytes: int | None = None):
    """Gather throughput (GB/s) against row size for each store and index order, on one table size asked for
    (default: the largest) at its largest rows per call, L2-bound calls left out (see :func:`row_bytes_medians`);
    the pinned H2D copy ceiling as a dashed line and a fraction-of-it axis when measured."""
    fig, ax = plt.subplots()
    df, tb, rows = row_bytes_medians(bench, table_bytes)
    if df.empty:
        return _empty(ax, "Gather throughput vs row size", "no gather measured (L2-bound calls left out)")
    rate, label = _link_rate(df, h2d_gbps)
    odd = df["row_bytes"].isin(_unaligned(bench))  # their own markers: a line through 128, 132, 512 zigzagged
    if (~odd).any():
        sns.lineplot(df[~odd], x="row_bytes", y=rate, hue="store", style="order", markers=True, ax=ax,
                     palette=_palette(df))
    for (store, order), g in df[odd].groupby(["store", "order"]):
        ax.plot(g["row_bytes"], g[rate], "D" if order == "random" else "d", ms=8, mfc="none", mew=1.5,
                color=_palette(df)[store])
    if odd.any():  # one legend entry for them all (one per store and order crowded the legend)
        sizes = "/".join(f"{b:g}" for b in sorted(df.loc[odd, "row_bytes"].unique()))
        ax.plot([], [], "D", mfc="none", color="0.3", label=f"unaligned {sizes} B rows (wide: random, narrow: sorted)")
    _ceiling(ax, h2d_gbps)
    ax.set_xscale("log", base=2)
    _measured_ticks(ax.xaxis, df["row_bytes"])
    per_call = "" if rows is None else f", {rows} rows per call"
    ax.set(title=f"Gather throughput vs row size ({tb / 2**20:.0f} MiB table{per_call};\nL2-bound calls left out)",
           xlabel="row size (bytes)", ylabel=label)
    _legend_outside(ax)
    return fig


def table_bytes_medians(bench: pd.DataFrame, row_bytes: int | None = None) -> tuple[pd.DataFrame, int]:
    """(median gbps and gbps_unique per store, order and table size asked for (``table_mib``); the row size) of
    the measurements :func:`gather_vs_table_bytes` draws: status ok, one row size (default: the largest), not
    ``l2_bound`` (see :func:`row_bytes_medians`), and per store, order and table only its largest call left (a
    median over call sizes would mix regimes: small calls pay the launch)."""
    df = _ok(bench)
    if "l2_bound" in df:
        df = df[~df["l2_bound"].eq(True)]
    if df.empty:
        return df, 0
    rb = int(row_bytes or df["row_bytes"].max())
    df = df[df["row_bytes"] == rb]
    df = df.assign(table=asked_table_bytes(df))
    keys = ["store", "order", "table"]
    if "rows" in df and df["rows"].notna().any():
        df = df[df["rows"] == df.groupby(keys)["rows"].transform("max")]
    out = df.groupby(keys, as_index=False)[_rates(df)].median()
    return out.assign(table_mib=out["table"] / 2**20), rb


def gather_vs_table_bytes(bench: pd.DataFrame, row_bytes: int | None = None, h2d_gbps: float | None = None):
    """Gather throughput (GB/s) against the table footprint, one row size (default: largest), each table at its
    largest call that caches cannot flatter (:func:`table_bytes_medians`); line style marks the index order."""
    fig, ax = plt.subplots()
    df, rb = table_bytes_medians(bench, row_bytes)
    if df.empty:
        return _empty(ax, "Gather throughput vs table size", "no gather measured (L2-bound calls left out)")
    rate, label = _link_rate(df, h2d_gbps)
    sns.lineplot(df, x="table_mib", y=rate, hue="store", style="order", markers=True, ax=ax, palette=_palette(df))
    log_y_if_wide(ax, df[rate])  # the gpu store's on-device gathers run tens of times above the link
    _ceiling(ax, h2d_gbps)
    ax.set_xscale("log", base=2)
    _measured_ticks(ax.xaxis, df["table_mib"])
    ax.set(title=f"Gather throughput vs table footprint ({rb} B rows;\nper table its largest call, L2-bound calls "
                 "left out)", xlabel="table footprint (MiB)", ylabel=label)
    _legend_outside(ax)
    return fig


def epoch_breakdown(summary: pd.DataFrame):
    """Stacked bars: median seconds per epoch in sampling, gathering/transfer and compute, per graph and store,
    and the median epoch wall time as a tick (medians of parts need not add up to the median of their sum)."""
    fig, ax = plt.subplots()
    if summary.empty:
        return _empty(ax, "GraphSAGE epoch time by phase", "no training run")
    df = summary.assign(label=summary["graph"] + "\n" + summary["store"] + "(" + summary["chosen"] + ")")
    bottom = pd.Series(0.0, index=df.index)
    # colours no store has (STORE_COLOURS takes the palette's 0, 1, 2 and 4): blue here is not the cpu store
    for phase, color in zip(PHASES, [sns.color_palette("colorblind").as_hex()[i] for i in (3, 5, 7)]):
        ax.bar(df["label"], df[phase], bottom=bottom, label=phase.replace("_s", ""), color=color)
        bottom += df[phase]
    ax.plot(df["label"], df["epoch_s"], "k_", markersize=20, label="epoch wall time")
    ax.set(title="GraphSAGE epoch time by phase (median over epochs;\neach phase's median: a stack may pass the "
                 "epoch's median wall time)", xlabel="graph / store (chosen)",
           ylabel="seconds per epoch")
    ax.tick_params(axis="x", labelsize="small")
    ax.legend(fontsize="small")
    return fig


def epoch_costs(summary: pd.DataFrame):
    """Per graph and store: process CPU seconds per epoch, and beside it GPU joules per epoch where NVML measured
    them (the energy panel is left out when no run has an energy reading, e.g. on a CPU-only machine)."""
    energy = summary.dropna(subset=["energy_j"]) if "energy_j" in summary else summary.iloc[:0]
    if energy.empty:
        fig, ax = plt.subplots(figsize=(6, 4))
        axes = [ax]
    else:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    if summary.empty:
        return _empty(axes[0], "Process CPU time per epoch", "no training run")
    sns.barplot(summary, x="graph", y="cpu_s", hue="store", ax=axes[0], palette=_palette(summary))
    axes[0].set(title="Process CPU time per epoch", xlabel="graph", ylabel="CPU seconds (user + system)")
    if not energy.empty:
        sns.barplot(energy, x="graph", y="energy_j", hue="store", ax=axes[1], palette=_palette(energy))
        axes[1].set(title="GPU energy per epoch", xlabel="graph", ylabel="energy (J)")
    fig.suptitle("Cost per epoch by feature store" + ("" if len(energy) else " (CPU time only: no GPU energy counter)"),
                 fontsize="medium" if energy.empty else None)
    return fig


def explore_epochs(epochs: pd.DataFrame, metric: str = "epoch_s", graph: str | None = None):
    """For the explorer: ``metric`` per epoch for each store on one graph (default: the first)."""
    fig, ax = plt.subplots()
    if epochs.empty:
        return _empty(ax, "Per-epoch measurements", "no training run")
    graph = graph or epochs["graph"].iloc[0]
    df = epochs[epochs["graph"] == graph]
    sns.lineplot(df, x="epoch", y=metric, hue="store", marker="o", ax=ax, palette=_palette(df))
    unit = {"epoch_s": "s", "sample_s": "s", "gather_s": "s", "compute_s": "s", "cpu_s": "CPU s",
            "energy_j": "J", "val_acc": "fraction", "test_acc": "fraction", "loss": "nats"}.get(metric, "")
    ax.set(title=f"{metric} per epoch on {graph}", xlabel="epoch (0: warm-up, left out of the summary's medians)",
           ylabel=f"{metric} ({unit})" if unit else metric)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return fig
